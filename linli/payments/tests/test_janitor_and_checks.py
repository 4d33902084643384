"""The janitor visits every open order fairly, however many keep failing (on main it
took the oldest 500 every minute and a newer order waited for ever), and ``linli check``
fails when the payments' new promises are broken by a direct database change."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from linli.core.invariants import run_all
from linli.payments.gateways.base import GatewayError
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.janitor import BATCH, janitor_run
from linli.payments.models import Payment, PaymentAnomaly, PaymentOrder
from linli.payments.tests.anomaly_helpers import make_world, paid
from linli.payments.trades import trade_apply


@pytest.fixture
def w(estate):
    return make_world(estate)


def _stale_orders(w, n: int) -> None:
    """``n`` pending orders whose gateway query keeps failing."""
    now = timezone.now()
    PaymentOrder.objects.bulk_create(
        PaymentOrder(community=w.community, unit=w.unit, account=w.account,
                     channel="sandbox", mode="sandbox", out_trade_no=f"LLSTALE{i:08d}",
                     amount_fen=100, description="stale", status=PaymentOrder.Status.PENDING,
                     idempotency_key=f"stale:{i}", request_digest="x",
                     created_at=now - dt.timedelta(hours=1), expires_at=now + dt.timedelta(hours=1))
        for i in range(n))


def test_600_failing_orders_do_not_starve_a_newer_one(w, monkeypatch):
    _stale_orders(w, BATCH + 100)
    newer = w.order()
    SandboxGateway(w.account.config()).pay(newer.out_trade_no)  # paid; notification lost
    real_query = SandboxGateway.query

    def query(self, out_trade_no):
        if out_trade_no.startswith("LLSTALE"):
            raise GatewayError("SYSTEMERROR", "try later", retryable=True)
        return real_query(self, out_trade_no)

    monkeypatch.setattr(SandboxGateway, "query", query)
    later = timezone.now() + dt.timedelta(minutes=2)
    first = janitor_run(now=later)
    assert len(first.errors) == BATCH
    janitor_run(now=later)
    newer.refresh_from_db()
    assert newer.status == PaymentOrder.Status.PAID
    assert Payment.objects.filter(reference=newer.transaction_id).exists()
    # Every order was visited; the next run starts again with the least recently checked.
    assert not PaymentOrder.objects.filter(last_checked_at__isnull=True).exists()


def _check_fails(name: str) -> None:
    [result] = run_all(only=[name])
    assert not result.ok, result
    with pytest.raises(SystemExit):
        call_command("linli_check", stdout=io.StringIO(), stderr=io.StringIO())


def _check_passes(name: str) -> None:
    [result] = run_all(only=[name])
    assert result.ok, result.violations


def test_check_suspense_equals_what_open_anomalies_hold(w):
    name = "payments.suspense_held_by_open_anomalies"
    order = w.order()
    trade_apply(w.account, paid(order, "TXM", 15000), source="notification")
    _check_passes(name)
    # "Resolve" by flipping a flag (what main did): the money is still in suspense.
    PaymentAnomaly.objects.update(status=PaymentAnomaly.Status.RESOLVED)
    _check_fails(name)
    PaymentAnomaly.objects.update(status=PaymentAnomaly.Status.OPEN, suspense_fen=1)
    _check_fails(name)


def test_check_every_paid_order_has_its_payment(w):
    name = "payments.paid_orders_have_payments"
    order = w.order()
    trade_apply(w.account, paid(order, "TXP", 20000), source="notification")
    _check_passes(name)
    PaymentOrder.objects.filter(pk=order.pk).update(payment=None)
    _check_fails(name)


def test_check_a_paid_order_without_its_transaction(w):
    name = "payments.paid_orders_have_payments"
    order = w.order()
    PaymentOrder.objects.filter(pk=order.pk).update(status=PaymentOrder.Status.PAID)
    _check_fails(name)


def test_check_open_orders_are_visited_by_the_janitor(w):
    name = "payments.janitor_visits_open_orders"
    order = w.order()
    _check_passes(name)
    long_ago = timezone.now() - dt.timedelta(hours=2)
    PaymentOrder.objects.filter(pk=order.pk).update(created_at=long_ago - dt.timedelta(
        minutes=15), expires_at=long_ago)
    _check_fails(name)
    janitor_run()  # visits it (and, the trade being closed at the gateway, expires it)
    _check_passes(name)
