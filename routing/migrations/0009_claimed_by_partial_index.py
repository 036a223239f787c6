"""Who claimed an entry: a partial index (claimed entries only) instead of the foreign key's
own index, which held a NULL for every waiting entry and grew with every case queued. Only
the index changes: altering the field the usual way would also drop and re-add the foreign
key constraint, which re-checks every row under a lock."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OLD_INDEX = "routing_queueentry_claimed_by_id_425acd14"


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD_INDEX}")


def restore(apps, schema_editor):
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD_INDEX} ON routing_queueentry (claimed_by_id)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0008_queue_open_age_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="queueentry",
                    name="claimed_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="claimed_entries",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
        migrations.AddIndex(
            model_name="queueentry",
            index=models.Index(
                condition=models.Q(("claimed_by__isnull", False)),
                fields=["claimed_by"],
                name="queueentry_claimed_by",
            ),
        ),
    ]
