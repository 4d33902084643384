"""Cash that leaves or comes back at the counter while closing a money exception is a line
of that person's 交班表, and the drawer's expected cash counts it (issue 14): an automatic
refund the channel refused and staff paid in cash, and money an anomaly owed (a trade
refunded outside Linli) paid back in cash. Before, both moved the ledger's cash and
appeared on no shift, and ``counter.shift_cash`` did not notice."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.utils import timezone

from linli.core.invariants import run_all
from linli.counter.selectors import takings
from linli.ledger import chart
from linli.payments.auto_refunds import order_refund_settle_at_counter, refund_settle
from linli.payments.gateways.base import RefundState
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    OrderRefund,
    PaymentAnomaly,
)
from linli.payments.resolutions import anomaly_resolve
from linli.payments.services import payment_record
from linli.payments.tests.anomaly_helpers import make_world, paid, refunded
from linli.payments.tests.helpers import check_ok
from linli.payments.trades import trade_apply

pytestmark = pytest.mark.django_db
URL = "/console/payments/takings/"


@pytest.fixture
def w(estate):
    return make_world(estate)


def _shift_cash_violations() -> list[str]:
    return run_all(["counter.shift_cash"])[0].violations


def _settled_in_cash(w) -> OrderRefund:
    """The cashier took 200 yuan at the counter; the order's money arrived too and its
    excess was refunded automatically; the channel refused; finance paid it in cash."""
    CommunityPaymentSettings.objects.create(community=w.community, excess_handling="refund")
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    trade_apply(w.account, SandboxGateway(w.account.config()).pay(order.out_trade_no),
                source="notification")
    refund = refund_settle(OrderRefund.objects.get().pk, RefundState.ABNORMAL, reason="卡已注销")
    return order_refund_settle_at_counter(acting_user=w.finance, refund=refund,
                                          channel="cash", reason="柜台现金退回")


def test_an_automatic_refund_paid_in_cash_is_a_line_of_the_shift(w, client):
    refund = _settled_in_cash(w)
    result = takings([w.community.pk], cashier_id=w.finance.pk, day=timezone.localdate())
    assert [(line.number, line.amount_fen) for line in result.lines] == [
        (refund.out_refund_no, -20000)]
    assert result.cash_out_fen == 20000 and result.cash_net_fen == -20000
    check_ok()
    client.force_login(w.finance)
    page = client.get(URL, {"cashier": w.finance.pk})
    assert page.status_code == 200
    assert page.context["rows"][0][1] == refund.out_refund_no
    assert page.context["rows"][0][5] == "-¥200.00"
    assert page.context["cash"] == {"in": "¥0.00", "out": "¥200.00", "net": "-¥200.00"}
    assert (w.finance.pk, ) in {(pk,) for pk, _label in page.context["form"]
                                .fields["cashier"].choices if pk}
    export = client.get(URL + "export.xlsx", {"cashier": w.finance.pk})
    rows = list(openpyxl.load_workbook(io.BytesIO(export.content)).active
                .iter_rows(values_only=True))
    assert any(r[1] == refund.out_refund_no and float(r[5]) == -200 for r in rows if len(r) > 5)


def test_the_check_fails_when_a_cash_settlement_is_on_no_shift(w):
    refund = _settled_in_cash(w)
    check_ok()
    OrderRefund.objects.filter(pk=refund.pk).update(settled_by_user=None)
    assert any("paid out by nobody" in v for v in _shift_cash_violations())
    OrderRefund.objects.filter(pk=refund.pk).update(settled_by_user=w.finance,
                                                    settled_by="prepaid")
    assert any("cash moved on no cashier's 交班表" in v and "-¥200.00" in v
               for v in _shift_cash_violations())


def _owed_back(w) -> PaymentAnomaly:
    """A trade paid and applied, then refunded at the channel outside Linli: suspense is
    owed 200 yuan."""
    order = w.order()
    trade_apply(w.account, paid(order, "TXA", 20000), source="notification")
    trade_apply(w.account, refunded(order, "TXA", 20000, refunded_fen=20000), source="query")
    return PaymentAnomaly.objects.get(kind=PaymentAnomaly.Kind.REFUNDED_OUTSIDE)


def test_money_an_anomaly_owed_paid_back_in_cash_is_a_line_of_the_shift(w, client):
    anomaly = anomaly_resolve(acting_user=w.finance, anomaly=_owed_back(w),
                              resolution=PaymentAnomaly.Resolution.RECOVERED_COUNTER,
                              channel="cash", reason="业主到前台交回现金")
    assert anomaly.resolution_channel == Channel.CASH
    assert w.account_fen(chart.CASH) == 20000
    result = takings([w.community.pk], cashier_id=w.finance.pk, day=timezone.localdate())
    assert [(line.number, line.amount_fen) for line in result.lines] == [("TXA", 20000)]
    assert result.cash_in_fen == 20000 and result.cash_net_fen == 20000
    check_ok()
    client.force_login(w.finance)
    page = client.get(URL, {"cashier": w.finance.pk})
    assert page.context["rows"][0][5] == "¥200.00"
    assert page.context["grand_total"] == "¥200.00"
    # Written on no shift (a direct change), the check says so.
    PaymentAnomaly.objects.filter(pk=anomaly.pk).update(resolution_channel="")
    assert any("anomaly_resolve" in v and "no cashier's 交班表" in v
               for v in _shift_cash_violations())


def test_money_paid_back_by_transfer_is_a_transfer_line(w):
    anomaly_resolve(acting_user=w.finance, anomaly=_owed_back(w),
                    resolution=PaymentAnomaly.Resolution.RECOVERED_COUNTER,
                    channel="transfer", reason="业主已转账退回")
    result = takings([w.community.pk], cashier_id=w.finance.pk, day=timezone.localdate())
    assert [(line.channel, line.amount_fen) for line in result.lines] == [
        (Channel.TRANSFER, 20000)]
    assert result.cash_in_fen == 0
    check_ok()
