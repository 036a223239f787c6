"""Changes to queues and routing policies change the configuration stamp (cases.config)."""

from django.db import migrations

from cases.config import WATCHED, create_triggers, drop_triggers


def triggers(apps, schema_editor):
    create_triggers(schema_editor, WATCHED["routing"])


def no_triggers(apps, schema_editor):
    drop_triggers(schema_editor, WATCHED["routing"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0011_config_stamp"),
        ("routing", "0006_metrics_time_index"),
    ]

    operations = [migrations.RunPython(triggers, no_triggers)]
