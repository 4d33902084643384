"""On PostgreSQL the database itself refuses to change or delete an issued receipt,
with the ledger's append-only trigger function (ledger migration 0002)."""

from django.db import migrations

TABLE = "receipts_receipt"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION linli_ledger_append_only()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("receipts", "0001_initial"),
        ("ledger", "0002_append_only_triggers"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
