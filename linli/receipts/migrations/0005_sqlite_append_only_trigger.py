"""On SQLite too the database itself refuses to change or delete an issued receipt,
as on PostgreSQL (migration 0002): triggers that refuse unless the connection opened
the switch (a TEMP table named ``linli_append_only_unlocked``; see
``linli.ledger.append_only``)."""

from django.db import migrations

TABLE = "receipts_receipt"

TRIGGER = """
CREATE TRIGGER {table}_append_only_{op} BEFORE {OP} ON {table}
FOR EACH ROW WHEN NOT EXISTS (
    SELECT 1 FROM pragma_table_info('linli_append_only_unlocked', 'temp'))
BEGIN
    SELECT RAISE(ABORT, 'append-only: {OP} on {table} refused');
END
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for op in ("update", "delete"):
        schema_editor.execute(TRIGGER.format(table=TABLE, op=op, OP=op.upper()), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for op in ("update", "delete"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only_{op}")


class Migration(migrations.Migration):
    dependencies = [
        ("receipts", "0004_channel_choices_include_suspense"),
        ("ledger", "0009_sqlite_append_only_triggers"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
