"""Refunds take their locks in the one order every money path follows
(``refunds.booking.LOCK_ORDER``): bills before the prepaid wallet, as payments do, so a
refund and a payment of the same unit can never deadlock (PostgreSQL: SQLite has no
row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linli.payments.models import Channel
from linli.payments.services import prepaid_deposit, prepaid_pay_bills
from linli.refunds.booking import LOCK_ORDER
from linli.refunds.payouts import refund_execute
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok


def race(fn) -> list:
    """Run ``fn(0)`` and ``fn(1)`` at the same moment; any exception is returned (a
    deadlock would be one), never lost in its thread."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _locked_tables(queries) -> list[str]:
    order = []
    for query in queries:
        sql = query["sql"]
        if "FOR UPDATE" not in sql and "FOR NO KEY UPDATE" not in sql:
            continue
        table = sql.split(" FROM ", 1)[1].split()[0].strip('"')
        if not order or order[-1] != table:
            order.append(table)
    return order


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_refund_to_the_prepaid_balance_locks_bills_before_the_wallet():
    assert LOCK_ORDER.index("bills by id") < LOCK_ORDER.index("prepaid wallet")
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=10000,
                    channel=Channel.CASH, idempotency_key="lock-dep")
    payment = prepaid_pay_bills(acting_user=world.cashier, unit=unit,
                                bill_ids=[bills["next"].pk], idempotency_key="lock-off")
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bills["next"].pk: 10000})
    refund_approve(acting_user=world.manager, application=application)
    with CaptureQueriesContext(connection) as queries:
        refund_execute(application.pk)
    tables = _locked_tables(queries.captured_queries)
    assert "billing_bill" in tables and "payments_prepaidwallet" in tables, tables
    # (The bills may be locked again later in the same transaction: rows already held.)
    assert tables.index("billing_bill") < tables.index("payments_prepaidwallet"), tables
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refunds_and_payments_of_one_unit_at_once_never_deadlock_nor_overspend():
    """Rounds of: a prepaid refund approved (it takes money out of the wallet) while the
    same balance pays bills, and a refund back to the wallet while the counter pays a
    bill of the unit. Every round ends, the wallet never goes below zero, and the books
    agree."""
    from linli.payments.models import PrepaidWallet
    from linli.refunds.models import RefundApplication
    from linli.refunds.services import RefundError
    world = World()
    unit, owner = world.unit()
    bills = list(world.bills(unit).values()) + list(world.bills(unit, item=world.parking)
                                                    .values())
    for round_no, bill in enumerate(bills[:4]):
        deposit = prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=bill.amount_fen,
                                  channel=Channel.CASH, idempotency_key=f"race-dep-{round_no}")
        application = refund_apply(acting_user=owner, payment=deposit, reason="x",
                                   prepaid_fen=bill.amount_fen)

        def step(i, application=application, bill=bill, round_no=round_no):
            if i == 0:
                return refund_approve(acting_user=world.manager, application=application)
            return prepaid_pay_bills(acting_user=world.cashier, unit=unit, bill_ids=[bill.pk],
                                     idempotency_key=f"race-pay-{round_no}")

        outcomes = race(step)
        assert not any(isinstance(o, Exception) and not isinstance(o, RefundError)
                       for o in outcomes), outcomes
        approved_it = RefundApplication.objects.get(pk=application.pk).status == "approved"
        paid_it = outcomes[1] is not None and not isinstance(outcomes[1], RefundError)
        assert approved_it != paid_it, outcomes  # exactly one got the money
        assert PrepaidWallet.objects.get(unit=unit).balance_fen == 0
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refund_to_the_wallet_and_a_prepaid_payment_of_the_same_bills_at_once():
    """The refund locks the refunded bill and then the wallet; paying bills from the
    wallet locks the bills and then the wallet: the same order, so rounds of both at
    once end (a deadlock would raise), and the balance adds up."""
    from linli.payments.models import PrepaidWallet

    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    parking = world.bills(unit, item=world.parking)
    for round_no, (key, refunded) in enumerate((("next", bills["next"]),
                                                ("later", bills["later"]))):
        prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=refunded.amount_fen,
                        channel=Channel.CASH, idempotency_key=f"wallet-dep-{round_no}")
        payment = prepaid_pay_bills(acting_user=world.cashier, unit=unit,
                                    bill_ids=[refunded.pk], idempotency_key=f"w-off-{round_no}")
        application = refund_apply(acting_user=owner, payment=payment, reason="x",
                                   lines={refunded.pk: refunded.amount_fen})
        refund_approve(acting_user=world.manager, application=application)
        other = parking[key]

        def step(i, application=application, refunded=refunded, other=other, n=round_no):
            if i == 0:
                return refund_execute(application.pk)
            return prepaid_pay_bills(acting_user=world.cashier, unit=unit,
                                     bill_ids=[refunded.pk, other.pk],
                                     idempotency_key=f"w-pay-{n}")

        outcomes = race(step)
        assert not any(isinstance(o, Exception) for o in outcomes), outcomes
        assert PrepaidWallet.objects.get(unit=unit).balance_fen >= 0
    check_ok()
