"""Single-column indexes that decision_case and decision_reviewer_recent already cover. Only
the indexes go (altering the fields the usual way would also re-check every row's foreign
keys under a lock)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {  # index name: column
    "reviews_decision_case_id_ba5558bc": "case_id",
    "reviews_decision_reviewer_id_8b3748eb": "reviewer_id",
}


def drop(apps, schema_editor):
    for name in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore(apps, schema_editor):
    for name, column in DROPPED.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON reviews_decision ({column})")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0012_fewer_indexes"),
        ("reviews", "0005_metrics_time_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="decision",
                    name="case",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="decisions",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="decision",
                    name="reviewer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="decisions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
