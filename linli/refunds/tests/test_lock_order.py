"""Refunds take their locks in the one order every money path follows
(``refunds.booking.LOCK_ORDER``): bills before the prepaid wallet, as payments do, so a
refund and a payment of the same unit can never deadlock (PostgreSQL: SQLite has no
row locks)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from linli.payments.models import Channel
from linli.payments.services import prepaid_deposit, prepaid_pay_bills
from linli.refunds.booking import LOCK_ORDER
from linli.refunds.payouts import refund_execute
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok


def _locked_tables(queries) -> list[str]:
    order = []
    for query in queries:
        sql = query["sql"]
        if "FOR UPDATE" not in sql:
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
