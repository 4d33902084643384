"""Posted entries and lines are never updated or deleted: refused by the code
everywhere, and by the database itself on PostgreSQL (migration 0002)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from linli.ledger import chart
from linli.ledger.models import ImmutableRecordError, JournalEntry, JournalLine
from linli.ledger.services import Line

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(estate, post):
    return post(estate["a1"], "bill:1:issue", [
        Line.debit(chart.RECEIVABLE, 30000, unit_id=estate["a1_unit"].pk),
        Line.credit(chart.REVENUE, 30000, fee_item_id=11),
    ])


def assert_untouched(entry):
    fresh = JournalEntry.objects.get(pk=entry.pk)
    assert fresh.memo == entry.memo
    assert fresh.digest == entry.digest
    assert sorted(JournalLine.objects.filter(entry=entry).values_list("side", "amount_fen")) == [
        ("C", 30000),
        ("D", 30000),
    ]


def test_saving_an_existing_entry_is_refused(entry):
    entry.memo = "edited"
    with pytest.raises(ImmutableRecordError):
        entry.save()
    with pytest.raises(ImmutableRecordError):
        entry.save(update_fields=["memo"])
    entry.memo = ""
    assert_untouched(entry)


def test_saving_an_existing_line_is_refused(entry):
    line = entry.lines.first()
    line.amount_fen = 1
    with pytest.raises(ImmutableRecordError):
        line.save()
    # The lower-level path Django itself uses when saving is closed too. (It fails
    # inside Django's own atomic block, which dooms the surrounding transaction.)
    with pytest.raises(ImmutableRecordError), transaction.atomic():
        line.save_base(force_update=True)
    assert_untouched(entry)


def test_deleting_an_entry_or_a_line_is_refused(entry):
    with pytest.raises(ImmutableRecordError):
        entry.delete()
    with pytest.raises(ImmutableRecordError):
        entry.lines.first().delete()
    assert_untouched(entry)


@pytest.mark.parametrize(
    "attempt",
    [
        lambda e: JournalLine.objects.filter(entry=e).update(amount_fen=1),
        lambda e: JournalLine.objects.filter(entry=e).delete(),
        lambda e: JournalLine.objects.all().delete(),
        lambda e: e.lines.update(amount_fen=1),
        lambda e: e.lines.all().delete(),
        lambda e: JournalEntry.objects.filter(pk=e.pk).update(memo="edited"),
        lambda e: JournalEntry.objects.filter(pk=e.pk).delete(),
        lambda e: JournalLine.objects.bulk_update(
            [_with(ln, amount_fen=1) for ln in e.lines.all()], ["amount_fen"]
        ),
        lambda e: JournalEntry.objects.update_or_create(pk=e.pk, defaults={"memo": "x"}),
        lambda e: JournalLine._base_manager.filter(entry=e).update(amount_fen=1),
        lambda e: JournalLine._base_manager.filter(entry=e)._raw_delete(connection.alias),
    ],
    ids=["line-update", "line-delete", "all-lines-delete", "related-update", "related-delete",
         "entry-update", "entry-delete", "bulk_update", "update_or_create",
         "base-manager-update", "raw-delete"],
)
def test_queryset_update_and_delete_are_refused(entry, attempt):
    with pytest.raises(ImmutableRecordError), transaction.atomic():
        attempt(entry)
    assert_untouched(entry)


def _with(obj, **changes):
    for name, value in changes.items():
        setattr(obj, name, value)
    return obj


def test_upsert_through_bulk_create_is_refused(entry):
    line = entry.lines.first()
    clash = JournalLine(
        pk=line.pk, entry=entry, account=line.account, side=line.side, amount_fen=1,
        community_id=line.community_id, unit_id=line.unit_id,
    )
    with pytest.raises(ImmutableRecordError):
        JournalLine.objects.bulk_create(
            [clash], update_conflicts=True, unique_fields=["id"], update_fields=["amount_fen"]
        )
    assert_untouched(entry)


# --- the database's own refusal (PostgreSQL) ----------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_journalline SET amount_fen = amount_fen + 1 WHERE entry_id = %s",
        "DELETE FROM ledger_journalline WHERE entry_id = %s",
        "UPDATE ledger_journalentry SET memo = 'edited' WHERE id = %s",
        "DELETE FROM ledger_journalentry WHERE id = %s",
    ],
    ids=["update-line", "delete-line", "update-entry", "delete-entry"],
)
def test_raw_sql_update_and_delete_fail_on_postgresql(entry, sql):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert_untouched(entry)


@pytest.mark.postgres
def test_the_triggers_are_installed_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
            "WHERE trigger_name LIKE %s ORDER BY 1, 2",
            ["ledger_journal%_append_only"],
        )
        assert cursor.fetchall() == [
            ("ledger_journalentry", "DELETE"),
            ("ledger_journalentry", "UPDATE"),
            ("ledger_journalline", "DELETE"),
            ("ledger_journalline", "UPDATE"),
        ]


@pytest.mark.parametrize("amount_fen", [0, -5])
def test_the_database_refuses_a_line_without_a_positive_amount(entry, amount_fen):
    line = entry.lines.first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_journalline (entry_id, account, side, amount_fen, community_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            [entry.pk, line.account, line.side, amount_fen, line.community_id],
        )
    assert_untouched(entry)
