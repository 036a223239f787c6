"""Evaluate the alert rules every 5 minutes."""

from django.db import migrations
from django.utils import timezone

NAME = "loopgate: alerts"


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "metrics.tasks.alerts_check",
            "schedule_type": "I",
            "minutes": 5,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("metrics", "0002_rollup_schedule")]

    operations = [migrations.RunPython(forwards, backwards)]
