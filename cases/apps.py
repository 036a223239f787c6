from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from cases import auditing
        from cases.api import schema  # noqa: F401  (registers the OpenAPI auth extension)

        auditing.register_models()

        from django.db.models.signals import post_migrate

        from cases.roles import grant_compliance_view_permissions

        post_migrate.connect(grant_compliance_view_permissions, dispatch_uid="loopgate-compliance")
