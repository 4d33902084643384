"""Bill runs stay reversible with prepaid auto-offset: the offset runs after the run
commits (each unit in its own short transaction) and is its own posting, which a
reversal unwinds by a new linked record; a refused reversal names what blocks it."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import translation

from linli import testing as t
from linli.billing.models import Bill, BillingSettings, BillRun
from linli.billing.selectors import bill_with_balance
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit, bill_run_offset
from linli.billing.services.bill_run_reversal import BillRunReversalError, bill_run_reverse
from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.ledger.selectors import account_balance
from linli.payments.models import Channel, Payment, PaymentReversal, PrepaidMovement
from linli.payments.services import payment_record, prepaid_deposit, prepaid_pay_bills
from linli.payments.tests.helpers import check_ok, fixed_fee, wallet_fen
from linli.reports.statement import unit_statement, unit_statement_totals

MONTH = "2026-10"


@pytest.fixture
def offsetting(estate):
    """A1 bills 100 yuan a month per unit, pays new bills from prepaid balances, and its
    unit has 150 yuan of prepaid balance; a second unit has none."""
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"auto_offset_prepaid": True})
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.CASH,
                    idempotency_key="dep-1")
    return {**estate, "other": t.make_unit(community)}


def commit(community, period=MONTH, callbacks=None):
    run, _preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                    period_key=period)
    return run


@pytest.mark.django_db
def test_the_offset_runs_once_the_run_has_committed_not_inside_it(
        offsetting, django_capture_on_commit_callbacks):
    community, unit = offsetting["a1"], offsetting["a1_unit"]
    with django_capture_on_commit_callbacks() as callbacks:
        run = commit(community)
        assert not Payment.objects.filter(channel=Channel.PREPAID).exists()  # not inside
    assert len(callbacks) == 1
    callbacks[0]()  # what happens once the run's transaction commits
    bill = bill_with_balance(Bill.objects.get(bill_run=run, unit=unit).pk)
    assert (bill.status, wallet_fen(unit)) == (Bill.Status.PAID, 5000)
    callbacks[0]()  # again (a duplicate): the same one payment
    assert Payment.objects.filter(channel=Channel.PREPAID).count() == 1
    check_ok()


@pytest.mark.django_db
def test_a_run_whose_offset_paid_a_unit_is_reversed_and_the_balance_given_back(
        offsetting, django_capture_on_commit_callbacks):
    """Failed on main: "Bills of this run have been paid; it cannot be reversed"."""
    community, unit = offsetting["a1"], offsetting["a1_unit"]
    with django_capture_on_commit_callbacks(execute=True):
        run = commit(community)
    offset = Payment.objects.get(channel=Channel.PREPAID)
    assert wallet_fen(unit) == 5000

    bill_run_reverse(acting_user=None, run=run, reason="价格录错")
    run.refresh_from_db()
    assert run.status == BillRun.Status.REVERSED
    assert set(Bill.objects.filter(bill_run=run).values_list("status", flat=True)) == {
        Bill.Status.CANCELLED}
    assert wallet_fen(unit) == 15000  # the balance is back
    reversal = PaymentReversal.objects.get(payment=offset)  # a new linked record
    assert Payment.objects.filter(pk=offset.pk, amount_fen=10000).exists()  # untouched
    mirror = JournalEntry.objects.get(business_key=reversal.business_key)
    assert mirror.reverses.business_key == f"payment:{offset.pk}"
    assert PrepaidMovement.objects.filter(kind=PrepaidMovement.Kind.UNOFFSET,
                                          amount_fen=10000).count() == 1
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == 0
    rows, totals = unit_statement(unit.pk), unit_statement_totals(unit.pk)
    assert [r.kind for r in rows if r.ref == reversal.business_key] == ["payment_reversed"]
    assert (rows[-1].owed_after_fen, rows[-1].prepaid_after_fen) == (0, 15000)
    assert (totals.owed_fen, totals.prepaid_fen) == (0, 15000)
    check_ok()

    # The month bills again, and the new run offsets again.
    with django_capture_on_commit_callbacks(execute=True):
        again = commit(community)
    assert again.bill_count == run.bill_count
    assert bill_with_balance(Bill.objects.get(bill_run=again, unit=unit).pk).status == \
        Bill.Status.PAID
    assert wallet_fen(unit) == 5000
    check_ok()

    # A direct database change that takes the reversal away breaks `linli check`.
    # (Moved to another payment rather than deleted: the offset's voided receipt
    # protects the reversal.)
    deposit = Payment.objects.get(channel=Channel.CASH, unit=unit)
    PaymentReversal.objects.filter(pk=reversal.pk).update(payment=deposit)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("linli_check", stdout=out)
    assert f"bill run #{run.pk} is reversed, its offset payment #{offset.pk} is not" in \
        out.getvalue()


@pytest.mark.django_db
def test_a_refused_reversal_names_the_bills_that_block_it_and_what_to_do(
        offsetting, django_capture_on_commit_callbacks):
    community, unit, other = offsetting["a1"], offsetting["a1_unit"], offsetting["other"]
    with django_capture_on_commit_callbacks(execute=True):
        run = commit(community)
    paid = Bill.objects.get(bill_run=run, unit=other)
    payment_record(acting_user=None, unit=other, channel=Channel.SANDBOX,
                   amount_fen=3000, bill_ids=[paid.pk], idempotency_key="online-1")
    waived = Bill.objects.get(bill_run=run, unit=offsetting["a2_unit"].pk) \
        if Bill.objects.filter(bill_run=run, unit=offsetting["a2_unit"]).exists() else None
    assert waived is None  # another community's unit is never in this run
    third = t.make_unit(community)
    with django_capture_on_commit_callbacks(execute=True):
        more = commit(community)  # bills the new unit only
    adjusted = Bill.objects.get(bill_run=more, unit=third)
    bill_adjustment_request(acting_user=None, bill=adjusted, kind="waiver", reason="维修",
                            amount_fen=1000)

    with translation.override("en"), pytest.raises(BillRunReversalError) as refused:
        bill_run_reverse(acting_user=None, run=run, reason="录错")
    text = str(refused.value)
    assert f"{other} 物业服务费 {MONTH} (paid online)" in text
    assert "Refund those payments" in text and "cancel the wrong bills one by one" in text
    assert str(unit) not in text  # the auto-offset does not block
    with translation.override("en"), pytest.raises(BillRunReversalError) as refused:
        bill_run_reverse(acting_user=None, run=more, reason="录错")
    assert f"{third} 物业服务费 {MONTH} (adjusted" in str(refused.value)
    with translation.override("zh-hans"), pytest.raises(BillRunReversalError) as refused:
        bill_run_reverse(acting_user=None, run=run, reason="录错")
    assert "线上" in str(refused.value) or "在线" in str(refused.value)
    assert wallet_fen(unit) == 5000 and not PaymentReversal.objects.exists()  # nothing moved
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_elsewhere_in_the_community_never_waits_for_a_run_to_commit(offsetting):
    """Failed on main: the offsets ran inside the run and held the community's receipt
    numbering until the run committed, so every payment there waited on the run."""
    community, other = offsetting["a1"], offsetting["other"]
    commit(community, "2026-09")
    old_bill = Bill.objects.get(unit=other, period_key="2026-09")
    run_open, paid = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def run_month():
        try:
            with transaction.atomic():  # the run's transaction, held open
                commit(community)
                run_open.set()
                outcome["paid_while_open"] = paid.wait(10)
        except Exception as exc:  # noqa: BLE001 — asserted below
            outcome["run"] = exc
        finally:
            run_open.set()
            connection.close()

    def pay_elsewhere():
        try:
            run_open.wait(20)
            payment_record(acting_user=None, unit=other, channel=Channel.CASH,
                           amount_fen=old_bill.amount_fen, bill_ids=[old_bill.pk],
                           idempotency_key="cash-during-run")
            paid.set()
        except Exception as exc:  # noqa: BLE001
            outcome["pay"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run_month), threading.Thread(target=pay_elsewhere)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "run" not in outcome and "pay" not in outcome, outcome
    assert outcome["paid_while_open"] is True
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_offsets_and_payments_on_the_same_units_at_once_neither_deadlock_nor_lose_money(estate):
    """The offset takes the unit's bills (by id) and then its wallet, as every payment
    does: an offset, a payment from the balance and a counter payment racing on the
    same units end with every fen where it belongs."""
    community = estate["a1"]
    fixed_fee(community)
    units = [estate["a1_unit"], *(t.make_unit(community) for _ in range(3))]
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"auto_offset_prepaid": False})
    commit(community, "2026-09")
    for unit in units:
        prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.CASH,
                        idempotency_key=f"dep-{unit.pk}")
    run = commit(community)  # offsets off: run them by hand below, racing
    errors: list[Exception] = []
    start = threading.Barrier(3, timeout=20)

    def offset():
        try:
            start.wait()
            bill_run_offset(acting_user=None, run_id=run.pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def from_balance():
        try:
            start.wait()
            for unit in reversed(units):
                older = Bill.objects.get(unit=unit, period_key="2026-09")
                prepaid_pay_bills(acting_user=None, unit=unit, bill_ids=[older.pk],
                                  idempotency_key=f"by-hand-{unit.pk}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def at_counter():
        try:
            start.wait()
            for unit in units:
                bills = list(Bill.objects.filter(unit=unit).order_by("-pk"))
                payment_record(acting_user=None, unit=unit, channel=Channel.CASH,
                               amount_fen=5000, bill_ids=[b.pk for b in bills],
                               idempotency_key=f"cash-{unit.pk}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=f) for f in (offset, from_balance, at_counter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for unit in units:
        # Billed 200 yuan, deposited 150, paid 50 in cash: whatever paid what, what is
        # owed less what is left in the balance is 200 − 150 − 50.
        owed = sum(bill_with_balance(b.pk).owed_fen for b in Bill.objects.filter(unit=unit))
        assert owed - wallet_fen(unit) == 20000 - 15000 - 5000
    check_ok()
