"""Each refund invariant of ``linli check`` fails when the stored rows are broken by a
direct database change (and passes on the same data before)."""

from __future__ import annotations

import pytest
from django.db.models import F

from linli.counter import invariants as counter_invariants
from linli.payments.models import Channel
from linli.refunds import invariants
from linli.refunds.models import (
    DuplicateRefund,
    RefundApplication,
    RefundPayout,
    RefundVoucherSequence,
)
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok
from linli.refunds.tests.test_stuck import _duplicate

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"], bills["later"]])
    paid = refund_apply(acting_user=owner, payment=payment, reason="x",
                        lines={bills["next"].pk: 10000})
    refund_approve(acting_user=world.manager, application=paid)
    world.payout = refund_record_counter(acting_user=world.cashier, application=paid,
                                         channel=Channel.CASH)
    world.waiting = refund_apply(acting_user=owner, payment=payment, reason="x",
                                 lines={bills["later"].pk: 10000})
    refund_approve(acting_user=world.manager, application=world.waiting)
    world.unit_, world.owner = unit, owner
    check_ok()
    return world


def fails(check, text: str) -> None:
    _checked, violations = check()
    assert any(text in v for v in violations), violations
    with pytest.raises(AssertionError, match="linli check failed"):
        check_ok()


def test_refunds_payable_must_match_approved_refunds_not_paid_out(world):
    RefundApplication.objects.filter(pk=world.waiting.pk).update(status="rejected")
    fails(invariants.refunds_payable, "refunds payable ¥100.00 in the ledger, ¥0.00 approved")


def test_voucher_numbers_must_run_without_gaps(world):
    RefundVoucherSequence.objects.update(last_serial=F("last_serial") + 1)
    fails(invariants.refunds_voucher_numbers, "sequence at 2, 1 vouchers issued")


def test_shift_cash_must_match_the_ledger(world):
    RefundPayout.objects.filter(pk=world.payout.pk).update(amount_fen=9000)
    fails(counter_invariants.counter_shift_cash, "交班表 cash ¥110.00, ledger ¥100.00")


def test_a_cash_refund_paid_by_nobody_is_on_no_shift(world):
    RefundPayout.objects.filter(pk=world.payout.pk).update(cashier=None)
    fails(counter_invariants.counter_shift_cash, "paid out by nobody")


def test_a_refund_paid_twice_must_stay_open_until_a_resolution_posts(world):
    bill = world.bills(world.unit_, item=world.parking)["next"]
    duplicate = _duplicate(world, world.unit_, world.owner, bill)
    check_ok()
    DuplicateRefund.objects.filter(pk=duplicate.pk).update(status="recovered")
    fails(invariants.refunds_paid_twice, "refunds paid twice open ¥0.00")


def test_a_refund_waiting_for_staff_must_say_why(world):
    RefundApplication.objects.filter(pk=world.waiting.pk).update(status="attention",
                                                                attention_reason="")
    fails(invariants.refunds_nothing_stuck, "says no reason")
