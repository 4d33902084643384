"""The database itself refuses to change or delete an issued refund voucher, as it
does journal rows and receipts. PostgreSQL: the ledger's trigger function (ledger
migration 0002). SQLite: triggers that refuse unless the connection opened the switch
(a TEMP table named ``linli_append_only_unlocked``; see ``linli.ledger.append_only``)."""

from django.db import migrations

TABLE = "refunds_refundvoucher"

SQLITE_TRIGGER = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {OP} ON {table}
FOR EACH ROW WHEN NOT EXISTS (
    SELECT 1 FROM pragma_table_info('linli_append_only_unlocked', 'temp'))
BEGIN
    SELECT RAISE(ABORT, 'append-only: {OP} on {table} refused');
END
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION linli_ledger_append_only()"
        )
    elif vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(SQLITE_TRIGGER.format(table=TABLE, op=op, OP=op.upper()),
                                  params=None)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    elif vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only_{op}")


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0003_channel_choices_include_suspense"),
        ("ledger", "0009_sqlite_append_only_triggers"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
