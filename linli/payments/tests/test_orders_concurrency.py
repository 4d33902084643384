"""Money under concurrency, on PostgreSQL (threads, each with its own connection):
the same notification delivered 200 times at once; one bill paid through two orders and
the counter at the same moment; two payers starting orders for one bill at once."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import Client

from linli import testing as t
from linli.billing.models import Bill
from linli.ledger.models import JournalEntry
from linli.payments.models import (
    Channel,
    GatewayNotification,
    GatewayTransaction,
    Payment,
    PaymentAllocation,
    PaymentAnomaly,
    PaymentOrder,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.payments.orders import OrderError, order_create
from linli.payments.services import payment_record
from linli.payments.tests.helpers import (
    billed_unit,
    pay_at_sandbox,
    post_notification,
    sandbox_account,
)
from linli.staff.models import Role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 40
DELIVERIES = 200


def check_ok() -> None:
    call_command("linli_check", stdout=io.StringIO())


def in_threads(n: int, fn) -> list:
    """Run ``fn(i)`` for i in range(n) on THREADS threads released together; every
    thread closes its own database connection."""
    barrier = threading.Barrier(min(n, THREADS))

    def run(i):
        try:
            if i < THREADS:
                barrier.wait(timeout=30)
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def world(estate):
    community = estate["a1"]
    account = sandbox_account(community)
    unit, bills = billed_unit(community, room="901", periods=("2024-01", "2024-02"))
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [community])
    return {"community": community, "account": account, "unit": unit, "bills": bills,
            "cashier": cashier}


def make_order(world, key: str) -> PaymentOrder:
    return order_create(payer=world["cashier"], channel=Channel.SANDBOX, mode="sandbox",
                        idempotency_key=key, bill_ids=[b.pk for b in world["bills"]])


def test_200_identical_notifications_at_once_make_one_payment(world):
    order = make_order(world, "k")
    headers, body = pay_at_sandbox(world["account"], order)

    def deliver(_i):
        response = post_notification(Client(), world["account"], headers, body)
        return response.status_code, response.content

    answers = in_threads(DELIVERIES, deliver)
    assert answers == [(200, b"success")] * DELIVERIES
    replays = [deliver(i) for i in range(3)]
    assert replays == [(200, b"success")] * 3
    payment = Payment.objects.get()
    assert payment.amount_fen == 20000
    assert JournalEntry.objects.filter(business_key=f"payment:{payment.pk}").count() == 1
    assert JournalEntry.objects.filter(kind="payment").count() == 1
    assert GatewayTransaction.objects.count() == 1
    outcomes = list(GatewayNotification.objects.values_list("outcome", flat=True))
    assert len(outcomes) == DELIVERIES + 3
    assert outcomes.count("applied") == 1 and outcomes.count("duplicate") == DELIVERIES + 2
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID and order.payment_id == payment.pk
    if _receipts_installed():
        from linli.receipts.models import Receipt

        assert Receipt.objects.filter(payment=payment).count() == 1
    check_ok()


def _receipts_installed() -> bool:
    from django.apps import apps

    return apps.is_installed("linli.receipts")


def test_one_bill_paid_by_two_orders_and_the_counter_at_once(world):
    first = make_order(world, "first")
    second = make_order(world, "second")  # closes the first here, not yet at the gateway
    first.refresh_from_db()
    assert first.status == PaymentOrder.Status.CLOSED
    n1 = pay_at_sandbox(world["account"], first)
    n2 = pay_at_sandbox(world["account"], second)
    bill_ids = [b.pk for b in world["bills"]]

    def act(i):
        if i == 2:
            return payment_record(acting_user=world["cashier"], unit=world["unit"],
                                  channel=Channel.CASH, amount_fen=20000, bill_ids=bill_ids,
                                  idempotency_key="counter").channel
        headers, body = (n1, n2)[i]
        return post_notification(Client(), world["account"], headers, body).status_code

    results = in_threads(3, act)
    assert results == [200, 200, Channel.CASH]
    for bill in Bill.objects.filter(pk__in=bill_ids):
        assert bill.status == Bill.Status.PAID
        assert PaymentAllocation.objects.filter(bill=bill).aggregate(
            s=Sum("principal_fen"))["s"] == bill.amount_fen  # paid once
    assert Payment.objects.aggregate(s=Sum("amount_fen"))["s"] == 60000
    assert PrepaidWallet.objects.get(unit=world["unit"]).balance_fen == 40000
    # Every online payment the bills did not need is flagged; the closed order's is late.
    for payment in Payment.objects.exclude(channel=Channel.CASH):
        excess = PrepaidMovement.objects.filter(payment=payment, kind="excess").exists()
        if excess:
            assert PaymentAnomaly.objects.filter(payment=payment).exists()
    assert PaymentAnomaly.objects.get(order=first).kind == PaymentAnomaly.Kind.LATE
    check_ok()


def test_two_payers_starting_orders_for_one_bill_leave_one_open(world):
    def start(i):
        try:
            return make_order(world, f"race{i}").pk
        except OrderError:
            return None

    created = [pk for pk in in_threads(8, start) if pk]
    assert created
    open_orders = PaymentOrder.objects.filter(status__in=PaymentOrder.OPEN_STATUSES)
    assert open_orders.count() == 1
    check_ok()
