from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from metrics.models import AlertRule

        auditlog.register(AlertRule)
