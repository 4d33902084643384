"""What Linli does for each state a channel reports about a trade (``trades.trade_apply``),
from a notification or a query alike: money received and then refunded at the channel
outside Linli is recorded as exactly that — never as a clean payment."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from linli.billing.models import Bill
from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.payments.gateways.base import TradeState, TradeStatus
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.hooks import order_refunds_made_by
from linli.payments.janitor import janitor_run
from linli.payments.models import (
    CommunityPaymentSettings,
    GatewayTransaction,
    OrderRefund,
    OutsideRefund,
    Payment,
    PaymentAnomaly,
    PaymentOrder,
)
from linli.payments.resolutions import anomaly_resolve
from linli.payments.services import payment_record
from linli.payments.tests.anomaly_helpers import make_world, paid, refunded
from linli.payments.tests.helpers import check_ok
from linli.payments.trades import Applied, trade_apply

R = PaymentAnomaly.Resolution


@pytest.fixture
def w(estate):
    return make_world(estate)


def _unpaid(w) -> bool:
    return {b.status for b in Bill.objects.filter(unit=w.unit)} == {"unpaid"}


@pytest.mark.parametrize("state", [TradeState.NOTPAY, TradeState.CLOSED, TradeState.UNKNOWN])
def test_states_without_money_change_nothing(w, state):
    order = w.order()
    applied = trade_apply(w.account, TradeStatus(out_trade_no=order.out_trade_no, state=state,
                                                 transaction_id="TX0"), source="query")
    assert applied.outcome == Applied.NOT_PAID and applied.recorded
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PENDING
    assert not GatewayTransaction.objects.exists() and not PaymentAnomaly.objects.exists()


def test_paid_in_full_is_a_payment(w):
    order = w.order()
    applied = trade_apply(w.account, paid(order, "TXP", 20000), source="notification")
    assert applied.outcome == Applied.APPLIED
    assert {b.status for b in Bill.objects.filter(unit=w.unit)} == {"paid"}
    check_ok()


def test_refunded_outside_before_recorded_is_money_in_and_out_never_a_payment(w):
    """Alipay TRADE_CLOSED carrying gmt_payment (refunded in full at Alipay) / WeChat
    REFUND: on main it was booked as a fresh payment — bills paid, receipt, no anomaly."""
    order = w.order()
    applied = trade_apply(w.account, refunded(order, "TXR", 20000), source="notification")
    assert applied.outcome == Applied.ANOMALY
    assert not Payment.objects.exists() and _unpaid(w)
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.REFUNDED
    assert not order.lines.filter(open=True).exists()  # the bills can be paid again
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.REFUNDED_OUTSIDE and anomaly.suspense_fen == 0
    keys = set(JournalEntry.objects.values_list("business_key", flat=True))
    assert {"suspense:sandbox:TXR", "refund_outside:sandbox:TXR:in_all:20000"} <= keys
    assert w.account_fen(chart.CLEARING_SANDBOX) == 0 and w.suspense_fen() == 0
    assert OutsideRefund.objects.get().amount_fen == 20000
    # Reported again (a query, a redelivery): nothing more.
    assert trade_apply(w.account, refunded(order, "TXR", 20000),
                       source="query").outcome == Applied.DUPLICATE
    assert JournalEntry.objects.filter(business_key__startswith="refund_outside").count() == 1
    check_ok()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.KEEP,
                    reason="支付宝后台已全额退款")
    check_ok()
    assert w.suspense_fen() == 0


def test_refunded_without_amount_takes_the_orders(w):
    order = w.order()
    trade_apply(w.account, refunded(order, "TXN", None), source="query")
    assert GatewayTransaction.objects.get().amount_fen == 20000
    check_ok()


def test_paid_with_a_partial_outside_refund_holds_the_rest(w):
    """Alipay TRADE_SUCCESS with refund_fee, never recorded: what was not refunded is
    held in suspense until staff apply it."""
    order = w.order()
    trade_apply(w.account, paid(order, "TXPR", 20000, refunded_fen=5000), source="query")
    assert not Payment.objects.exists() and _unpaid(w)
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.suspense_fen == 15000 and w.suspense_fen() == 15000
    check_ok()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.APPLY_TO_BILLS,
                    reason="余款抵缴物业费")
    assert w.suspense_fen() == 0
    assert sorted(Bill.objects.filter(unit=w.unit).values_list("status", flat=True)) == [
        "paid", "partially_paid"]
    check_ok()


def test_refunded_outside_after_it_was_applied_posts_the_outflow(w):
    order = w.order()
    trade_apply(w.account, paid(order, "TXA", 20000), source="notification")
    applied = trade_apply(w.account, refunded(order, "TXA", 20000, refunded_fen=20000),
                          source="query")
    assert applied.outcome == Applied.ANOMALY
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.REFUNDED_OUTSIDE
    assert anomaly.suspense_fen == -20000 and w.suspense_fen() == -20000  # suspense owed
    assert w.account_fen(chart.CLEARING_SANDBOX) == 0
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID  # the bills were paid; the money is owed
    check_ok()
    # A further partial report adds only the difference.
    assert trade_apply(w.account, refunded(order, "TXA", 20000, refunded_fen=20000),
                       source="query").outcome == Applied.DUPLICATE
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly,
                    resolution=R.RECOVERED_COUNTER, channel="transfer",
                    reason="业主已转账退回")
    assert w.suspense_fen() == 0 and w.account_fen(chart.BANK) == 20000
    check_ok()


def test_refunds_linli_made_are_not_outside(w):
    """An overpayment refunded automatically, then the channel reports the trade
    refunded: that is our refund, nothing to flag."""
    CommunityPaymentSettings.objects.create(community=w.community, excess_handling="refund")
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel="cash", amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    SandboxGateway(w.account.config()).pay(order.out_trade_no)
    trade = SandboxGateway(w.account.config()).query(order.out_trade_no)
    trade_apply(w.account, trade, source="notification")
    janitor_run()
    assert OrderRefund.objects.get().status == OrderRefund.Status.SUCCESS
    before = PaymentAnomaly.objects.count()
    again = TradeStatus(out_trade_no=order.out_trade_no, state=TradeState.REFUNDED,
                        transaction_id=trade.transaction_id, amount_fen=20000,
                        refunded_fen=20000)
    assert trade_apply(w.account, again, source="query").outcome == Applied.DUPLICATE
    assert PaymentAnomaly.objects.count() == before
    check_ok()


def test_refunds_another_app_reports_through_the_hook_are_not_outside(w):
    order = w.order()
    trade_apply(w.account, paid(order, "TXH", 20000), source="notification")

    def payouts(o):
        return 8000 if o.pk == order.pk else 0

    order_refunds_made_by.register(payouts)
    try:
        assert trade_apply(w.account, paid(order, "TXH", 20000, refunded_fen=8000),
                           source="query").outcome == Applied.DUPLICATE
        trade_apply(w.account, paid(order, "TXH", 20000, refunded_fen=10000), source="query")
    finally:
        order_refunds_made_by.unregister(payouts)
    assert PaymentAnomaly.objects.get().suspense_fen == -2000  # only what Linli did not do


def test_unknown_order_refunded_at_the_channel(w):
    trade_apply(w.account, refunded("LLNOTOURS", "TXUR", 3000), source="notification")
    assert sorted(PaymentAnomaly.objects.values_list("kind", "suspense_fen")) == [
        ("refunded_outside", -3000), ("unknown_order", 3000)]
    assert w.suspense_fen() == 0
    check_ok()


def test_the_janitor_applies_a_refunded_trade_it_queries(w, monkeypatch):
    order = w.order()
    monkeypatch.setattr(SandboxGateway, "query", lambda self, no: refunded(no, "TXQ", 20000))
    janitor_run(now=timezone.now() + dt.timedelta(minutes=2))
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.REFUNDED and _unpaid(w)
    assert not Payment.objects.exists()
    check_ok()


@pytest.mark.parametrize("state, words", [
    ("mismatch", "金额不符，物业正在处理"),
    ("refunded", "已在支付渠道退款"),
])
def test_the_owner_reads_how_the_order_ended(estate, state, words):
    """On main a mismatched order stayed "awaiting payment" for ever."""
    from django.urls import reverse

    from linli.payments.orders import order_create
    from linli.payments.tests.helpers import sandbox_account
    from linli.portal.tests.conftest import make_owner, signed_in

    community = estate["a1"]
    account = sandbox_account(community)
    user, unit, bills = make_owner(community, "801")
    order = order_create(payer=user, channel="sandbox", mode="sandbox", idempotency_key="o",
                         unit=unit)
    trade = (paid(order, "TXW", 1) if state == "mismatch"
             else refunded(order, "TXW", order.amount_fen))
    trade_apply(account, trade, source="notification")
    order.refresh_from_db()
    assert order.status == state
    client = signed_in(user)
    page = client.get(reverse("portal:order", args=[order.pk])).content.decode()
    assert words in page and "等待支付" not in page  # the portal speaks Chinese
    assert "本次未扣款" not in page


def test_a_refunded_report_without_amount_after_linlis_partial_refund_is_linlis(w):
    """WeChat says REFUND after any refund and does not say how much: after a refund
    Linli made on the trade, that is Linli's refund, not an outside one."""
    order = w.order()
    trade_apply(w.account, paid(order, "TXWR", 20000), source="notification")

    def payouts(o):
        return 5000 if o.pk == order.pk else 0

    order_refunds_made_by.register(payouts)
    try:
        assert trade_apply(w.account, refunded(order, "TXWR", 20000),
                           source="query").outcome == Applied.DUPLICATE
    finally:
        order_refunds_made_by.unregister(payouts)
    assert not PaymentAnomaly.objects.exists()
    # Without any refund of Linli's, the same report is a full refund outside Linli.
    assert trade_apply(w.account, refunded(order, "TXWR", 20000),
                       source="query").outcome == Applied.ANOMALY
    assert PaymentAnomaly.objects.get().suspense_fen == -20000


def test_the_same_refund_total_reported_after_linlis_refund_failed_is_all_outside(w):
    """The channel reports ¥80 refunded while Linli's own refund of ¥50 is in flight: ¥30
    was refunded outside (owed back, resolved). Linli's refund then fails, and the channel
    reports the same ¥80 again: the other ¥50 was refunded outside too — recorded and
    flagged on an open anomaly of its own, never an error that keeps the report out."""
    order = w.order()
    trade_apply(w.account, paid(order, "TXFL", 20000), source="notification")
    in_flight = {"fen": 5000}

    def payouts(o):
        return in_flight["fen"] if o.pk == order.pk else 0

    order_refunds_made_by.register(payouts)
    try:
        trade_apply(w.account, paid(order, "TXFL", 20000, refunded_fen=8000), source="query")
        first = PaymentAnomaly.objects.get()
        assert first.suspense_fen == -3000 and w.suspense_fen() == -3000
        anomaly_resolve(acting_user=w.finance, anomaly=first, resolution=R.RECOVERED_COUNTER,
                        channel="cash", reason="业主退回现金")
        in_flight["fen"] = 0  # the channel refused Linli's refund: it paid nothing
        applied = trade_apply(w.account, paid(order, "TXFL", 20000, refunded_fen=8000),
                              source="query")
    finally:
        order_refunds_made_by.unregister(payouts)
    assert applied.outcome == Applied.ANOMALY
    second = PaymentAnomaly.objects.exclude(pk=first.pk).get()
    assert second.is_open and second.suspense_fen == -5000 and w.suspense_fen() == -5000
    assert sum(OutsideRefund.objects.values_list("amount_fen", flat=True)) == 8000
    assert w.account_fen(chart.CLEARING_SANDBOX) == 20000 - 8000
    check_ok()
