"""On PostgreSQL the database itself refuses to change posted journal rows, whoever
connects: no UPDATE, no DELETE. (SQLite relies on the code; `linli check` catches the
rest through balances and digests.)

TRUNCATE is not refused: it is a privilege of its own, which the application's role
need not hold, and Django's test runner flushes tables with it between transactional
tests."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION linli_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TABLES = ("ledger_journalentry", "ledger_journalline")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # params=None: the body contains RAISE's own "%" placeholders, which a driver
    # given a parameter tuple (even an empty one) would try to fill.
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION linli_ledger_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS linli_ledger_append_only()")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
