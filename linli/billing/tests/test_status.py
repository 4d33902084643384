"""A bill's status follows its money (``billing.services.status``): charged, paid,
waived, cancelled and refunded — one rule for payments, adjustments and refunds, and
`linli check` proves every stored status agrees with it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from linli.billing import hooks
from linli.billing.models import Bill
from linli.billing.selectors import bill_with_balance
from linli.billing.services.status import derive_status
from linli.refunds.models import RefundApplication
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok

S = Bill.Status


def status(**figures) -> str:
    base = {"amount_fen": 10000, "adjusted_fen": 0, "paid_fen": 0, "refunded_fen": 0,
            "cancelled": False}
    return derive_status(**{**base, **figures})


def test_the_one_rule():
    assert status() == S.UNPAID
    assert status(paid_fen=4000) == S.PARTIALLY_PAID
    assert status(paid_fen=10000) == S.PAID
    assert status(adjusted_fen=10000) == S.WAIVED
    assert status(adjusted_fen=3000, paid_fen=7000) == S.PAID
    assert status(cancelled=True) == S.CANCELLED
    # Still owing: payable, whatever was refunded.
    assert status(paid_fen=4000, refunded_fen=4000) == S.UNPAID
    assert status(paid_fen=4000, refunded_fen=1000) == S.PARTIALLY_PAID
    # Owing nothing: refunded in full or in part.
    assert status(paid_fen=10000, refunded_fen=10000) == S.REFUNDED
    assert status(paid_fen=10000, refunded_fen=4000) == S.PARTIALLY_REFUNDED


def _refund_cash(world, unit, payment, bill, fen):
    application = refund_apply(acting_user=world.cashier, payment=payment, reason="退房",
                               lines={bill.pk: fen})
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel="cash", reference="现金")
    application.refresh_from_db()
    assert application.status == RefundApplication.Status.REFUNDED
    return application


@pytest.mark.django_db
def test_a_refund_of_part_of_a_part_paid_bill_leaves_the_rest_payable():
    """Failed on main: the refund marked the bill REFUNDED though it still owed 60 yuan;
    it could never be paid again and the receivable never cleared."""
    world = World()
    unit, _owner = world.unit()
    bill = world.bills(unit)["next"]  # 100 yuan, a month not yet started
    payment = world.pay_cash(unit, [bill], amount_fen=4000)
    assert bill_with_balance(bill.pk).status == S.PARTIALLY_PAID

    _refund_cash(world, unit, payment, bill, 4000)
    bill = bill_with_balance(bill.pk)
    assert (bill.status, bill.owed_fen) == (S.UNPAID, 6000)  # still payable
    check_ok()

    world.pay_cash(unit, [bill], amount_fen=6000)  # the rest is paid
    bill = bill_with_balance(bill.pk)
    assert (bill.status, bill.owed_fen) == (S.PARTIALLY_REFUNDED, 0)
    check_ok()


@pytest.mark.django_db
def test_a_refund_of_part_of_what_a_part_paid_bill_received_keeps_it_part_paid():
    world = World()
    unit, _owner = world.unit()
    bill = world.bills(unit)["next"]
    payment = world.pay_cash(unit, [bill], amount_fen=4000)
    _refund_cash(world, unit, payment, bill, 1000)
    assert bill_with_balance(bill.pk).status == S.PARTIALLY_PAID
    check_ok()


@pytest.mark.django_db
def test_linli_check_fails_when_a_status_is_changed_in_the_database():
    world = World()
    unit, _owner = world.unit()
    bills = world.bills(unit)
    world.pay_cash(unit, [bills["next"]], amount_fen=4000)
    check_ok()
    Bill.objects.filter(pk=bills["next"].pk).update(status=S.REFUNDED)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("linli_check", stdout=out)
    assert "billing.bill_status_follows_money" in out.getvalue()
    assert f"bill #{bills['next'].pk}" in out.getvalue()
    # An unpaid bill marked paid breaks it too.
    Bill.objects.filter(pk=bills["next"].pk).update(status=S.PARTIALLY_PAID)
    check_ok()
    Bill.objects.filter(pk=bills["later"].pk).update(status=S.PAID)
    with pytest.raises(SystemExit):
        call_command("linli_check", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_status_asks_every_registered_refund_provider():
    world = World()
    unit, _owner = world.unit()
    bill = world.bills(unit)["next"]
    world.pay_cash(unit, [bill])

    def provider(bill_ids):
        return {bill.pk: 2500} if bill_ids is None or bill.pk in bill_ids else {}

    hooks.register_refunded_fen(provider)
    try:
        assert hooks.refunded_fen([bill.pk])[bill.pk] == 2500
        with pytest.raises(SystemExit):  # stored PAID, the money says part refunded
            call_command("linli_check", stdout=io.StringIO())
    finally:
        hooks.unregister_refunded_fen(provider)
    check_ok()
