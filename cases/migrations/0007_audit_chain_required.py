from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0006_audit_chain_backfill")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(editable=False, unique=True),
        ),
    ]
