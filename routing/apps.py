from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from cases.intake import register_router
        from routing.intake import PolicyRouter

        register_router(PolicyRouter())

        from auditlog.registry import auditlog

        from routing.models import PolicyVersion, Queue, RoutingPolicy

        auditlog.register(Queue)
        auditlog.register(RoutingPolicy)
        auditlog.register(PolicyVersion)
