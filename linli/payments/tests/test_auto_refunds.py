"""Automatic refunds that fail cannot get stuck: they show as needing attention with the
channel's reason, and are retried with the same refund number or settled another way; a
channel success after that is recorded and flagged, never lost. On main a failed refund
left the wallet debited and the money in refunds payable, with no way back."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from linli import testing as t
from linli.ledger import chart
from linli.payments.auto_refunds import (
    order_refund_retry,
    order_refund_settle_at_counter,
    order_refund_settle_to_prepaid,
    refund_settle,
)
from linli.payments.gateways.base import RefundState
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.janitor import janitor_run
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    OrderRefund,
    PaymentAnomaly,
    SandboxTrade,
)
from linli.payments.permissions import ResolutionError
from linli.payments.resolutions import anomaly_resolve
from linli.payments.selectors import order_refunds_payable_fen
from linli.payments.services import payment_record
from linli.payments.tests.anomaly_helpers import make_world
from linli.payments.tests.helpers import check_ok, wallet_fen
from linli.payments.trades import trade_apply

R = PaymentAnomaly.Resolution
REASON = "用户银行卡已注销"


@pytest.fixture
def w(estate):
    return make_world(estate)


def _failed_refund(w) -> OrderRefund:
    """Bills paid at the counter while an order was open; the order's money arrives and
    its excess is refunded automatically — and the channel refuses the refund."""
    CommunityPaymentSettings.objects.create(community=w.community, excess_handling="refund")
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    trade = SandboxGateway(w.account.config()).pay(order.out_trade_no)
    trade_apply(w.account, trade, source="notification")
    refund = OrderRefund.objects.get()
    refund = refund_settle(refund.pk, RefundState.ABNORMAL, reason=REASON)
    assert refund.status == OrderRefund.Status.FAILED and refund.error == REASON
    assert wallet_fen(w.unit) == 0 and order_refunds_payable_fen(w.community.pk) == 20000
    check_ok()
    janitor_run()  # a failed refund is not sent again by itself
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.FAILED
    return refund


def _settle_ok(w) -> None:
    assert order_refunds_payable_fen(w.community.pk) == 0
    assert w.account_fen(chart.REFUNDS_PAYABLE) == 0
    check_ok()


def test_failed_refund_retried_with_the_same_number(w):
    refund = _failed_refund(w)
    number = refund.out_refund_no
    order_refund_retry(acting_user=w.finance, refund=refund, reason="银行卡已更换，重试")
    janitor_run()
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SUCCESS and refund.out_refund_no == number
    trade = SandboxTrade.objects.get(out_trade_no=refund.out_trade_no)
    assert list(trade.refunds) == [number] and trade.refunded_fen == 20000
    _settle_ok(w)


def test_failed_refund_put_back_into_prepaid_then_the_channel_pays_after_all(w):
    refund = _failed_refund(w)
    order_refund_settle_to_prepaid(acting_user=w.finance, refund=refund, reason="留作预存")
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SETTLED and refund.settled_by == "prepaid"
    assert wallet_fen(w.unit) == 20000
    _settle_ok(w)
    # The channel refunds it after all: recorded and flagged, not ignored.
    refund_settle(refund.pk, RefundState.SUCCESS, refund_id_at_gateway="SBR-LATE")
    refund_settle(refund.pk, RefundState.SUCCESS, refund_id_at_gateway="SBR-LATE")  # once
    refund.refresh_from_db()
    assert refund.late_success_at is not None
    anomaly = PaymentAnomaly.objects.get(kind=PaymentAnomaly.Kind.LATE_REFUND)
    assert anomaly.suspense_fen == -20000 and w.suspense_fen() == -20000
    assert w.account_fen(chart.CLEARING_SANDBOX) == 0  # the money did leave
    check_ok()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.RECOVER_PREPAID,
                    reason="已退两次，从预存扣回")
    assert wallet_fen(w.unit) == 0 and w.suspense_fen() == 0
    check_ok()


def test_failed_refund_paid_at_the_counter(w):
    refund = _failed_refund(w)
    with pytest.raises(ResolutionError):
        order_refund_settle_at_counter(acting_user=w.finance, refund=refund, channel="wechat",
                                       reason="x")
    order_refund_settle_at_counter(acting_user=w.finance, refund=refund, channel="cash",
                                   reason="柜台现金退回")
    assert w.account_fen(chart.CASH) == 0  # 200 in at the counter, 200 back out
    _settle_ok(w)
    with pytest.raises(ResolutionError):  # settled once
        order_refund_retry(acting_user=w.finance, refund=refund, reason="x")


def test_a_success_after_failure_books_normally(w):
    refund = _failed_refund(w)
    refund_settle(refund.pk, RefundState.SUCCESS, refund_id_at_gateway="SBR1")
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SUCCESS
    _settle_ok(w)


def test_only_resolvers_may_settle(w, estate):
    refund = _failed_refund(w)
    for user in (w.cashier, t.make_staff(estate["company_a"], "finance", [estate["a2"]])):
        with pytest.raises(ResolutionError):
            order_refund_retry(acting_user=user, refund=refund, reason="x")


def test_the_console_shows_the_reason_and_offers_the_ways(w, client):
    refund = _failed_refund(w)
    client.force_login(w.finance)
    url = reverse("admin:payments_orderrefund_change", args=[refund.pk])
    page = client.get(url).content.decode()
    assert REASON in page and "¥200.00" in page
    listing = client.get(reverse("admin:payments_orderrefund_changelist") + "?attention=yes")
    assert refund.out_refund_no in listing.content.decode()
    response = client.post(url.replace("/change/", "/settle-prepaid/"),
                           {"_form_submitted": "on", "reason": "留作预存"})
    assert response.status_code == 302
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SETTLED
    # Settled: the ways are gone.
    assert client.post(url.replace("/change/", "/retry/"),
                       {"_form_submitted": "on", "reason": "x"}).status_code == 403
    root = User.objects.create_superuser("root2", "r@example.com", t.PASSWORD)
    assert root.has_perm("payments.change_paymentanomaly")
    _settle_ok(w)


def test_a_refund_the_channel_refuses_outright_needs_staff_with_its_words(w, monkeypatch):
    from linli.payments.gateways.base import GatewayError

    CommunityPaymentSettings.objects.create(community=w.community, excess_handling="refund")
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    trade_apply(w.account, SandboxGateway(w.account.config()).pay(order.out_trade_no),
                source="notification")

    def refuse(self, request):
        raise GatewayError("NOT_ENOUGH", "商户余额不足")

    monkeypatch.setattr(SandboxGateway, "refund", refuse)
    janitor_run()
    refund = OrderRefund.objects.get()
    assert refund.status == OrderRefund.Status.FAILED and "商户余额不足" in refund.error
    check_ok()
