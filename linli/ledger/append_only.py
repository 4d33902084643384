"""The database's own refusal to change posted financial rows (append-only tables).

Every model built on ``AppendOnlyModel`` (journal entries and lines, receipts and their
voids, refund vouchers) is refused UPDATE and DELETE three times: by the model, by its
queryset, and by the database itself, for any client:

- PostgreSQL: a ``BEFORE UPDATE OR DELETE`` trigger per table (``<table>_append_only``,
  function ``linli_ledger_append_only``; ledger migration 0002 and the receipts and
  refunds migrations). TRUNCATE is not refused: it is a privilege of its own, which the
  application's role need not hold, and Django's test runner flushes tables with it.
- SQLite (the default install): two triggers per table (``<table>_append_only_update``
  and ``_delete``) that ``RAISE(ABORT)`` unless *this connection* has opened the switch:
  a TEMP table named ``linli_append_only_unlocked``. A temp table exists only for the
  connection that created it and vanishes with it; a main-schema table of that name
  does not count. SQLite has no TRUNCATE — Django's flush empties tables with DELETE —
  so the switch is what stands in for PostgreSQL's separate privilege: ``flush``
  (linli/ledger/management/commands/flush.py) opens it for its own statements, and
  tests that corrupt rows on purpose (to show that ``linli check`` notices) open it with
  ``append_only_unlocked``. Nothing else in Linli does.

``ledger.append_only_triggers`` (``linli check``) proves the triggers are in place — a
table rebuilt by a future SQLite migration (copy, drop, rename) would lose them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.db import connections

SWITCH = "linli_append_only_unlocked"


def guarded_tables() -> list[str]:
    """The tables of every append-only model, sorted."""
    from linli.ledger.models import AppendOnlyModel

    return sorted(m._meta.db_table for m in apps.get_models()
                  if issubclass(m, AppendOnlyModel))


@contextmanager
def append_only_unlocked(using: str = "default") -> Iterator[None]:
    """Let this connection UPDATE and DELETE append-only rows on SQLite, for the block.

    Only for emptying the whole database (``flush``) and for tests that break rows on
    purpose. On PostgreSQL it changes nothing: the triggers refuse whatever is set.
    """
    connection = connections[using]
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pragma_table_info(%s, 'temp')", [SWITCH])
        already_open = cursor.fetchone() is not None
        if not already_open:
            cursor.execute(f"CREATE TEMP TABLE {SWITCH} (opened INTEGER)")
    try:
        yield
    finally:
        if not already_open:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS temp.{SWITCH}")


def installed_triggers(using: str = "default") -> dict[str, set[str]]:
    """Table → the operations ("UPDATE", "DELETE") its append-only triggers refuse."""
    connection = connections[using]
    found: dict[str, set[str]] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT event_object_table, event_manipulation FROM information_schema.triggers"
                " WHERE trigger_name = event_object_table || '_append_only'"
                " AND action_timing = 'BEFORE'")
            rows = cursor.fetchall()
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger'")
            rows = [(table, op) for table, name, sql in cursor.fetchall()
                    for op in ("UPDATE", "DELETE")
                    if name == f"{table}_append_only_{op.lower()}"
                    and f"BEFORE {op} ON" in sql.upper() and "RAISE(ABORT" in sql.upper()]
        else:
            rows = []
    for table, operation in rows:
        found.setdefault(table, set()).add(operation)
    return found
