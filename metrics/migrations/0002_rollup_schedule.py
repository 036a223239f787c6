"""Roll up the finished hours every 10 minutes (the current hour is computed on read)."""

from django.db import migrations
from django.utils import timezone

NAME = "loopgate: metrics rollups"


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "metrics.tasks.rollups_update", "schedule_type": "I", "minutes": 10,
                  "repeats": -1, "next_run": timezone.now()},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_initial"), ("django_q", "0018_task_success_index")]

    operations = [migrations.RunPython(forwards, backwards)]
