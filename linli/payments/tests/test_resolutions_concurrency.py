"""Resolving and settling under concurrency, on PostgreSQL: many staff resolving one
anomaly (or settling one failed refund) at the same moment move its money once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from linli.payments.auto_refunds import (
    order_refund_retry,
    order_refund_settle_at_counter,
    order_refund_settle_to_prepaid,
    refund_settle,
)
from linli.payments.gateways.base import RefundState
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    OrderRefund,
    Payment,
    PaymentAnomaly,
)
from linli.payments.resolutions import anomaly_resolve
from linli.payments.services import payment_record
from linli.payments.tests.anomaly_helpers import make_world, paid
from linli.payments.tests.helpers import check_ok, wallet_fen
from linli.payments.trades import trade_apply

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 12


def in_threads(fn) -> list:
    barrier = threading.Barrier(THREADS)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        except ValidationError:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


@pytest.fixture
def w(estate):
    return make_world(estate)


def test_one_anomaly_resolved_by_many_at_once_moves_its_money_once(w):
    order = w.order()
    trade_apply(w.account, paid(order, "TXC", 15000), source="notification")
    anomaly = PaymentAnomaly.objects.get()
    ways = [PaymentAnomaly.Resolution.TO_PREPAID, PaymentAnomaly.Resolution.APPLY_TO_BILLS]
    done = in_threads(lambda i: anomaly_resolve(
        acting_user=w.finance, anomaly=anomaly, resolution=ways[i % 2], reason=f"r{i}"))
    assert sum(1 for d in done if d is not None) == 1
    assert Payment.objects.filter(channel=Channel.SUSPENSE).count() == 1
    assert w.suspense_fen() == 0
    check_ok()


def test_one_failed_refund_settled_by_many_at_once_settles_once(w):
    CommunityPaymentSettings.objects.create(community=w.community, excess_handling="refund")
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    trade_apply(w.account, SandboxGateway(w.account.config()).pay(order.out_trade_no),
                source="notification")
    refund = refund_settle(OrderRefund.objects.get().pk, RefundState.ABNORMAL, reason="x")
    ways = [
        lambda: order_refund_settle_to_prepaid(acting_user=w.finance, refund=refund,
                                               reason="p"),
        lambda: order_refund_settle_at_counter(acting_user=w.finance, refund=refund,
                                               channel="cash", reason="c"),
        lambda: order_refund_retry(acting_user=w.finance, refund=refund, reason="r"),
    ]
    done = in_threads(lambda i: ways[i % 3]())
    assert sum(1 for d in done if d is not None) == 1
    refund.refresh_from_db()
    assert wallet_fen(w.unit) == (20000 if refund.settled_by == "prepaid" else 0)
    check_ok()
