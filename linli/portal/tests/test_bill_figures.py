"""The bills list reads balances its own way (``page_balances``: two grouped queries for
the page's bills) for speed; its figures must stay those of ``linli.billing.selectors``
(``with_balances`` and ``late_fee_due_fen``) for every kind of history a bill can have."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit
from linli.payments.models import Channel
from linli.payments.tests.helpers import fixed_fee
from linli.portal import selectors
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, month_key

pytestmark = pytest.mark.django_db
K = BillAdjustment.Kind
BALANCE_FIELDS = ("adjusted_fen", "late_fee_waived_fen", "paid_fen", "late_fee_paid_fen",
                  "owed_fen")


def adjust(bill: Bill, kind: str, amount_fen: int | None = None) -> None:
    bill_adjustment_request(acting_user=None, bill=bill, kind=kind, reason="测试",
                            amount_fen=amount_fen)


@pytest.fixture
def history():
    """A unit whose bills have been paid in part and in full, discounted, waived, had
    their late fee waived, cancelled and refunded, some of them overdue with late fees."""
    world = World()
    overdue = fixed_fee(world.community, price="80.00", name="滞纳费项",
                        late_fee_enabled=True, late_fee_daily_rate=Decimal("0.003"))
    unit, owner = world.unit()
    today = timezone.localdate()
    for offset in (-6, -4):  # long overdue
        bill_run_commit(acting_user=None, community_id=world.community.pk,
                        period_key=month_key(today, offset), today=today)
    late = list(Bill.objects.filter(unit=unit, fee_item=overdue).order_by("period_start"))
    bills = world.bills(unit)
    parking = world.bills(unit, item=world.parking)
    world.pay_cash(unit, [late[0]], amount_fen=3000)             # partial, overdue
    adjust(late[1], K.DISCOUNT, 1000)
    world.pay_cash(unit, [late[1]], amount_fen=500)
    adjust(late[1], K.LATE_FEE_WAIVER, 200)
    adjust(late[2], K.LATE_FEE_WAIVER, 100)
    adjust(bills["past"], K.WAIVER, 2500)
    adjust(bills["now"], K.CANCELLATION)
    payment = world.pay_cash(unit, [bills["next"], bills["later"], parking["next"]])
    application = refund_apply(acting_user=world.cashier, payment=payment, reason="搬家",
                               lines={bills["later"].pk: 10000, parking["next"].pk: 2000})
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH, reference="现金")
    return unit, today


def test_page_figures_agree_with_the_billing_selectors(history):
    unit, today = history
    expected = {b.pk: b for b in with_balances(Bill.objects.filter(unit=unit))}
    statuses = {b.status for b in expected.values()}
    assert {Bill.Status.PARTIALLY_PAID, Bill.Status.PAID, Bill.Status.CANCELLED,
            Bill.Status.REFUNDED, Bill.Status.PARTIALLY_REFUNDED} <= statuses
    assert any(b.late_fee_waived_fen for b in expected.values())

    rows = selectors.page_rows({unit.pk}, statuses=Bill.Status.values, offset=0, limit=100)
    assert {r["due_date"] for r in rows} == {b.due_date for b in expected.values()}
    assert {r["late_fee_daily_rate"] for r in rows} == \
           {b.late_fee_daily_rate for b in expected.values()}
    balances = selectors.page_balances(rows)
    for pk, bill in expected.items():
        assert {f: getattr(balances[pk], f) for f in BALANCE_FIELDS} == \
               {f: getattr(bill, f) for f in BALANCE_FIELDS}, bill
        assert late_fee_due_fen(balances[pk], as_of=today) == late_fee_due_fen(bill, as_of=today)

    shown = {}
    for tab in ("unpaid", "paid"):
        groups, has_next = selectors.bills_page({unit.pk}, tab=tab, page=1, today=today)
        assert not has_next
        shown.update({row.pk: row for g in groups for row in g.bills})
        assert {g.unit_label for g in groups} == {str(unit)}
    assert shown.keys() == expected.keys()
    late_fees = []
    for pk, bill in expected.items():
        row = shown[pk]
        if bill.status in Bill.OPEN_STATUSES:
            late_fees.append(late_fee_due_fen(bill, as_of=today))
            assert row.due_now_fen == max(bill.owed_fen, 0) + late_fees[-1], bill
        else:
            assert row.due_now_fen is None and row.amount_fen == bill.amount_fen
        assert row.is_overdue == (bill.status in Bill.OPEN_STATUSES and bill.due_date < today)
    assert any(late_fees) and sum(1 for fee in late_fees if fee) >= 2
