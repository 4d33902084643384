"""Prepaid top-up orders (预存): an order for a unit with no bills and an amount the payer
chooses; once paid, all of it is the unit's prepaid balance, whatever the community's
excess setting, and the ledger still balances."""

from __future__ import annotations

import pytest

from linli import testing as t
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    OrderRefund,
    PaymentAnomaly,
    PaymentOrder,
    PrepaidMovement,
)
from linli.payments.orders import OrderError, order_create
from linli.payments.tests.helpers import (
    billed_unit,
    check_ok,
    notification,
    post_notification,
    sandbox_account,
    wallet_fen,
)
from linli.receipts.models import Receipt


@pytest.fixture
def world(estate):
    community = estate["a1"]
    account = sandbox_account(community)
    unit, bills = billed_unit(community, room="701")
    person = t.make_person(community)
    t.make_occupancy(unit, person)
    payer = t.make_owner(person.mobile)
    CommunityPaymentSettings.objects.create(
        community=community, excess_handling=CommunityPaymentSettings.Excess.REFUND)
    return {"community": community, "account": account, "unit": unit, "bills": bills,
            "payer": payer, **estate}


def topup(world, amount_fen, key="t1", payer=None, unit=None):
    return order_create(payer=payer or world["payer"], channel=Channel.SANDBOX, mode="sandbox",
                        idempotency_key=key, unit=unit or world["unit"], topup_fen=amount_fen)


def test_paid_topup_is_all_prepaid_even_when_excess_is_refunded(world, client):
    order = topup(world, 50000)
    assert order.status == PaymentOrder.Status.PENDING and order.amount_fen == 50000
    assert not order.lines.exists()
    headers, body = notification(world["account"], order, transaction_id="T-1")
    assert post_notification(client, world["account"], headers, body).status_code == 200
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID
    assert wallet_fen(world["unit"]) == 50000
    movement = PrepaidMovement.objects.get(wallet__unit=world["unit"])
    assert movement.kind == PrepaidMovement.Kind.DEPOSIT and movement.amount_fen == 50000
    assert not OrderRefund.objects.exists() and not PaymentAnomaly.objects.exists()
    assert all(b.status == "unpaid" for b in world["bills"])  # bills are not touched
    receipt = Receipt.objects.get(payment=order.payment)
    assert receipt.snapshot["prepaid_fen"] == 50000
    check_ok()


def test_topup_is_idempotent_by_key_and_checks_its_input(world):
    first = topup(world, 10000)
    assert topup(world, 10000) == first
    with pytest.raises(OrderError):
        topup(world, 20000)  # same key, another amount
    for bad in (0, -5, 10**10, True):
        with pytest.raises(OrderError):
            topup(world, bad, key=f"bad{bad}")
    assert PaymentOrder.objects.count() == 1


def test_nobody_tops_up_someone_elses_unit(world):
    stranger = t.make_owner("13900009999")
    with pytest.raises(OrderError):
        topup(world, 10000, payer=stranger)
    other_unit = world["b1_unit"]
    with pytest.raises(OrderError):
        topup(world, 10000, unit=other_unit, key="t2")
    assert not PaymentOrder.objects.exists()


def test_late_topup_money_is_still_a_deposit(world, client):
    from linli.payments.orders import order_cancel

    order = order_cancel(topup(world, 30000))
    headers, body = notification(world["account"], order, transaction_id="T-late")
    assert post_notification(client, world["account"], headers, body).status_code == 200
    assert wallet_fen(world["unit"]) == 30000
    assert PaymentAnomaly.objects.get().kind == PaymentAnomaly.Kind.LATE
    assert not OrderRefund.objects.exists()
    check_ok()
