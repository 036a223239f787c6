from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from cases.intake import register_router
        from routing.intake import PolicyRouter

        register_router(PolicyRouter())
