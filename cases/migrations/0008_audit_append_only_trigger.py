"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit tables
(Loopgate's chained events and django-auditlog's entries). TRUNCATE, which only an operator
with table ownership can run, is not a row operation and stays possible for test databases."""

from django.db import migrations

TABLES = ["cases_auditevent", "auditlog_logentry"]

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION loopgate_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: %% on %% refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION loopgate_audit_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS loopgate_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0007_audit_chain_required"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
