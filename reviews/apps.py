from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from reviews.models import Decision

        auditlog.register(Decision, exclude_fields=["final_output", "diff"])
