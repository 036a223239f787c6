"""Single-column indexes that composite indexes already cover: every case and audit record
written kept them up to date for nothing. Only the indexes go: altering the fields the usual
way would also drop and re-add each foreign key constraint, which re-checks every row of the
table under a lock."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {  # index name: (table, column)
    "cases_auditevent_actor_id_d81c8e08": ("cases_auditevent", "actor_id"),
    "cases_auditevent_case_id_87e58a62": ("cases_auditevent", "case_id"),
    "cases_auditevent_kind_e579a0c8": ("cases_auditevent", "kind"),
    "cases_case_case_type_id_30752f13": ("cases_case", "case_type_id"),
    "cases_case_source_id_146e7475": ("cases_case", "source_id"),
}
LIKE_INDEX = "cases_auditevent_kind_e579a0c8_like"  # PostgreSQL only


def drop(apps, schema_editor):
    for name in [*DROPPED, LIKE_INDEX]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore(apps, schema_editor):
    for name, (table, column) in DROPPED.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON cases_auditevent "
            "(kind varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0011_config_stamp"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="case",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="cases.case",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="kind",
                    field=models.CharField(max_length=64),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="case_type",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cases",
                        to="cases.casetype",
                    ),
                ),
                migrations.AlterField(
                    model_name="case",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cases",
                        to="cases.source",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["kind"], name="auditevent_kind"),
        ),
    ]
