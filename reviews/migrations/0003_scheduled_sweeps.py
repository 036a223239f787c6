"""The scheduled background work: the SLA sweep and the webhook retry sweep, every minute.
Admins can change the interval in Django admin (Django Q → Scheduled tasks)."""

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    ("loopgate: SLA sweep", "reviews.tasks.sla_sweep"),
    ("loopgate: webhook deliveries", "cases.tasks.webhooks_deliver_due"),
]


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1,
                      "next_run": timezone.now()},
        )


def backwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__in=[name for name, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0002_notifications"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
