"""Journal entries, journal lines, receipts, receipt voids and refund vouchers refuse UPDATE and DELETE
at the database itself — on SQLite (the default install) as on PostgreSQL — while
Django's flush (the test runner's, or an operator's) still empties them, and `linli
check` says when a table has lost its triggers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from linli.ledger.append_only import SWITCH, append_only_unlocked, guarded_tables
from linli.ledger.invariants import append_only_triggers
from linli.ledger.models import JournalEntry, JournalLine
from linli.payments.models import Channel
from linli.receipts.models import Receipt, ReceiptVoid
from linli.refunds.models import RefundVoucher
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World

TABLES = ["ledger_journalentry", "ledger_journalline", "receipts_receipt",
          "receipts_receiptvoid", "refunds_refundvoucher"]
UPDATES = {
    "ledger_journalentry": "UPDATE ledger_journalentry SET memo = 'edited' WHERE id = %s",
    "ledger_journalline": "UPDATE ledger_journalline SET amount_fen = amount_fen + 1 "
                          "WHERE id = %s",
    "receipts_receipt": "UPDATE receipts_receipt SET total_fen = 1 WHERE id = %s",
    "receipts_receiptvoid": "UPDATE receipts_receiptvoid SET reason = 'edited' WHERE id = %s",
    "refunds_refundvoucher": "UPDATE refunds_refundvoucher SET total_fen = 1 WHERE id = %s",
}
MODELS = {"ledger_journalentry": JournalEntry, "ledger_journalline": JournalLine,
          "receipts_receipt": Receipt, "receipts_receiptvoid": ReceiptVoid,
          "refunds_refundvoucher": RefundVoucher}


def refunded_cash_payment() -> None:
    """A cash payment with its receipt, refunded in part at the counter (a voucher), and a
    receipt voided (a row written directly: only its table matters here): at least one
    row in each append-only table."""
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["later"]])
    application = refund_apply(acting_user=owner, payment=payment, reason="搬家",
                               lines={bills["later"].pk: 4000})
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH)
    receipt = Receipt.objects.get(payment=payment)
    ReceiptVoid.objects.create(receipt=receipt, community_id=receipt.community_id,
                               reason="test", voided_at=receipt.issued_at)


@pytest.fixture
def rows(db) -> dict[str, int]:
    refunded_cash_payment()
    return {table: MODELS[table]._base_manager.order_by("pk").values_list("pk", flat=True)[0]
            for table in TABLES}


def snapshot() -> dict[str, list]:
    return {table: list(MODELS[table]._base_manager.order_by("pk").values()) for table in TABLES}


def run_sql(sql: str, params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_every_append_only_model_is_one_of_the_five_tables():
    assert guarded_tables() == sorted(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_the_database_refuses_update_and_delete(rows, table):
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(UPDATES[table], [rows[table]])
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(f"DELETE FROM {table} WHERE id = %s", [rows[table]])
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(f"DELETE FROM {table}", [])
    assert snapshot() == before


@pytest.mark.django_db
def test_linli_check_sees_the_triggers_in_place():
    checked, violations = append_only_triggers()
    assert (checked, violations) == (5, [])


@pytest.mark.django_db
@pytest.mark.parametrize("table", TABLES)
def test_linli_check_fails_when_a_table_lost_its_triggers(table):
    """What a future SQLite migration rebuilding the table (copy, drop, rename) would do."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            cursor.execute(f"DROP TRIGGER {table}_append_only_delete")
    _checked, violations = append_only_triggers()
    missing = "DELETE or UPDATE" if connection.vendor == "postgresql" else "DELETE"
    assert violations == [f"table {table}: the database does not refuse {missing}"]


# --- SQLite: the switch ---------------------------------------------------------------

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite",
                                 reason="the switch exists on SQLite only")


@sqlite_only
def test_the_switch_lets_this_connection_through_for_the_block_only(rows):
    with append_only_unlocked():
        run_sql(UPDATES["ledger_journalline"], [rows["ledger_journalline"]])
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(UPDATES["ledger_journalline"], [rows["ledger_journalline"]])


@sqlite_only
def test_a_table_of_the_switch_name_outside_temp_does_not_unlock(rows):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE main.{SWITCH} (opened INTEGER)")
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(UPDATES["receipts_receipt"], [rows["receipts_receipt"]])


@sqlite_only
def test_nested_switches_stay_open_until_the_outer_one_closes(rows):
    with append_only_unlocked():
        with append_only_unlocked():
            pass
        run_sql(UPDATES["ledger_journalentry"], [rows["ledger_journalentry"]])
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(UPDATES["ledger_journalentry"], [rows["ledger_journalentry"]])


# --- flushing: the test runner's and an operator's -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_append_only_tables_and_they_stay_guarded():
    refunded_cash_payment()
    assert all(MODELS[t]._base_manager.exists() for t in TABLES)
    call_command("flush", interactive=False, stdout=io.StringIO())
    assert not any(MODELS[t]._base_manager.exists() for t in TABLES)
    refunded_cash_payment()
    entry = JournalEntry.objects.order_by("pk").first()
    with pytest.raises(DatabaseError, match="append-only"):
        run_sql(UPDATES["ledger_journalentry"], [entry.pk])
