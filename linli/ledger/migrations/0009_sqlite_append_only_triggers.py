"""On SQLite too the database itself refuses to change posted journal rows: no UPDATE,
no DELETE, unless the connection opened the switch (a TEMP table named
``linli_append_only_unlocked``; see ``linli.ledger.append_only``), which only Django's
flush and tests that corrupt rows on purpose do. PostgreSQL has had its triggers since
migration 0002.

The SQL is written out here (not imported) so that this migration stays as it was run."""

from django.db import migrations

TABLES = ("ledger_journalentry", "ledger_journalline")

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
    for table in TABLES:
        for op in ("update", "delete"):
            schema_editor.execute(TRIGGER.format(table=table, op=op, OP=op.upper()), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in TABLES:
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{op}")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0008_chart_other_receivables_income_losses")]
    operations = [migrations.RunPython(forwards, backwards)]
