"""Every anomaly kind resolves by posting: each way moves exactly what the anomaly holds
in suspense, and ends with ``linli check`` passing and the suspense account at zero.
On main "resolve" only flipped a flag and the suspense account was never emptied."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from linli import testing as t
from linli.billing.models import Bill
from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.janitor import janitor_run
from linli.payments.models import (
    Channel,
    OrderRefund,
    Payment,
    PaymentAnomaly,
    PaymentOrder,
    SandboxTrade,
)
from linli.payments.permissions import ResolutionError
from linli.payments.resolutions import anomaly_resolve, resolutions_for
from linli.payments.selectors import order_refunds_payable_fen
from linli.payments.services import payment_record
from linli.payments.tests.anomaly_helpers import make_world, paid
from linli.payments.tests.helpers import billed_unit, check_ok, wallet_fen
from linli.payments.trades import trade_apply
from linli.staff.models import Role

R = PaymentAnomaly.Resolution


@pytest.fixture
def w(estate):
    return make_world(estate)


def _mismatch(w, amount_fen=15000) -> PaymentAnomaly:
    order = w.order()
    trade_apply(w.account, paid(order, "TXM", amount_fen), source="notification")
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.MISMATCH
    return PaymentAnomaly.objects.get(kind=PaymentAnomaly.Kind.AMOUNT_MISMATCH)


def _done(w) -> None:
    assert w.suspense_fen() == 0
    assert not PaymentAnomaly.objects.filter(status="open").exists()
    check_ok()


def test_mismatch_applied_to_the_units_bills(w):
    anomaly = _mismatch(w)
    assert w.suspense_fen() == 15000
    check_ok()  # held by an open anomaly: consistent
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.APPLY_TO_BILLS,
                    reason="业主少付，先抵缴")
    anomaly.refresh_from_db()
    payment = anomaly.resolution_payment
    assert payment.channel == Channel.SUSPENSE and payment.amount_fen == 15000
    entry = JournalEntry.objects.get(business_key=f"payment:{payment.pk}")
    assert ("2249", "D", 15000) in set(entry.lines.values_list("account", "side", "amount_fen"))
    assert sorted(Bill.objects.filter(unit=w.unit).values_list("status", flat=True)) == [
        "paid", "partially_paid"]
    _done(w)


def test_mismatch_moved_to_prepaid(w):
    anomaly = _mismatch(w)
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.TO_PREPAID,
                    reason="转入预存")
    assert wallet_fen(w.unit) == 15000
    _done(w)


def test_mismatch_refunded_through_the_channel(w):
    order = w.order()
    gateway = SandboxGateway(w.account.config())
    trade = gateway.pay(order.out_trade_no)
    trade_apply(w.account, paid(order, trade.transaction_id, 15000), source="notification")
    anomaly = PaymentAnomaly.objects.get()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.REFUND,
                    reason="原路退回")
    refund = OrderRefund.objects.get()
    assert refund.anomaly == anomaly and refund.amount_fen == 15000
    assert refund.out_refund_no.startswith("RS")
    assert w.suspense_fen() == 0 and order_refunds_payable_fen(w.community.pk) == 15000
    check_ok()
    janitor_run()
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SUCCESS
    assert SandboxTrade.objects.get(out_trade_no=order.out_trade_no).refunded_fen == 15000
    assert order_refunds_payable_fen(w.community.pk) == 0
    assert w.account_fen(chart.REFUNDS_PAYABLE) == 0
    _done(w)


def test_write_off_needs_a_second_person(w):
    anomaly = _mismatch(w)
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.WRITE_OFF,
                    reason="无法联系付款人")
    anomaly.refresh_from_db()
    assert anomaly.is_open and anomaly.write_off_requested_by == w.finance
    with translation.override("en"), pytest.raises(ResolutionError, match="someone other"):
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.WRITE_OFF,
                        reason="我自己批准")
    assert w.suspense_fen() == 15000
    anomaly_resolve(acting_user=w.finance2, anomaly=anomaly, resolution=R.WRITE_OFF,
                    reason="同意核销")
    anomaly.refresh_from_db()
    assert anomaly.resolved_by == w.finance2
    assert w.account_fen(chart.OTHER_INCOME) == 15000
    _done(w)


def test_write_off_no_superuser_bypass(w):
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "r@example.com", t.PASSWORD)
    anomaly = _mismatch(w)
    anomaly_resolve(acting_user=root, anomaly=anomaly, resolution=R.WRITE_OFF, reason="a")
    with pytest.raises(ResolutionError):
        anomaly_resolve(acting_user=root, anomaly=anomaly, resolution=R.WRITE_OFF, reason="b")


def test_unknown_order_applied_to_a_unit_staff_choose(w, estate):
    trade_apply(w.account, paid("LLNOTOURS0000", "TXU", 12000), source="notification")
    anomaly = PaymentAnomaly.objects.get()
    assert w.suspense_fen() == 12000
    check_ok()
    with pytest.raises(ResolutionError):  # no unit known: staff must choose
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.APPLY_TO_BILLS,
                        reason="x")
    with pytest.raises(ResolutionError):  # a unit of another community is refused
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.APPLY_TO_BILLS,
                        reason="x", unit=estate["a2_unit"])
    other, _bills = billed_unit(w.community, room="902")
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.APPLY_TO_BILLS,
                    reason="查明为902业主", unit=other)
    assert Payment.objects.get(channel=Channel.SUSPENSE).unit == other
    _done(w)


def test_duplicate_kept_as_prepaid_or_refunded(w):
    order = w.order()
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=20000,
                   bill_ids=[b.pk for b in w.bills], idempotency_key="counter")
    trade = SandboxGateway(w.account.config()).pay(order.out_trade_no)
    trade_apply(w.account, trade, source="notification")
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.DUPLICATE and anomaly.excess_fen == 20000
    assert anomaly.suspense_fen == 0 and wallet_fen(w.unit) == 20000
    assert resolutions_for(anomaly) == [R.KEEP, R.REFUND]
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.REFUND,
                    reason="业主要求退回")
    assert wallet_fen(w.unit) == 0
    check_ok()
    janitor_run()
    assert OrderRefund.objects.get().status == OrderRefund.Status.SUCCESS
    _done(w)


def test_late_payment_kept(w):
    order = w.order()
    PaymentOrder.objects.filter(pk=order.pk).update(status=PaymentOrder.Status.EXPIRED)
    order.lines.update(open=False)
    trade_apply(w.account, paid(order, "TXL", 20000), source="notification")
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.LATE and resolutions_for(anomaly) == [R.KEEP]
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.KEEP, reason="已核对")
    _done(w)


def test_refunded_outside_recovered_from_prepaid(w):
    order = w.order()
    trade_apply(w.account, paid(order, "TXO", 20000), source="notification")
    payment_record(acting_user=w.cashier, unit=w.unit, channel=Channel.CASH, amount_fen=30000,
                   bill_ids=[], idempotency_key="deposit")
    trade_apply(w.account, paid(order, "TXO", 20000, refunded_fen=20000), source="query")
    anomaly = PaymentAnomaly.objects.get()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.RECOVER_PREPAID,
                    reason="从预存中扣回")
    assert wallet_fen(w.unit) == 10000
    _done(w)


def test_refunded_outside_written_off_as_a_loss(w):
    order = w.order()
    trade_apply(w.account, paid(order, "TXW", 20000), source="notification")
    trade_apply(w.account, paid(order, "TXW", 20000, refunded_fen=20000), source="query")
    anomaly = PaymentAnomaly.objects.get()
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.WRITE_OFF, reason="a")
    anomaly_resolve(acting_user=w.finance2, anomaly=anomaly, resolution=R.WRITE_OFF, reason="b")
    assert w.account_fen(chart.OTHER_LOSSES) == 20000
    _done(w)


def test_only_resolvers_of_the_community_may_resolve(w, estate):
    anomaly = _mismatch(w)
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [w.community])
    elsewhere = t.make_staff(estate["company_a"], Role.FINANCE, [estate["a2"]])
    for user in (w.cashier, manager, elsewhere):
        with pytest.raises(ResolutionError):
            anomaly_resolve(acting_user=user, anomaly=anomaly, resolution=R.TO_PREPAID,
                            reason="x")
    with pytest.raises(ResolutionError):  # a reason is required
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.TO_PREPAID,
                        reason=" ")
    with pytest.raises(ResolutionError):  # not a way for money held
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.KEEP, reason="x")
    anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.TO_PREPAID, reason="x")
    with pytest.raises(ResolutionError):  # once
        anomaly_resolve(acting_user=w.finance, anomaly=anomaly, resolution=R.TO_PREPAID,
                        reason="x")
    _done(w)


def test_the_console_offers_the_ways_that_apply_and_calls_the_service(w, client):
    trade_apply(w.account, paid("LLNOTOURS0001", "TXUC", 12000), source="notification")
    anomaly = PaymentAnomaly.objects.get()
    other, _bills = billed_unit(w.community, room="903")
    url = reverse("admin:payments_paymentanomaly_change", args=[anomaly.pk])
    client.force_login(w.finance)
    page = client.get(url).content.decode()
    assert "¥120.00" in page and "12000" not in page
    for way in ("apply-bills", "to-prepaid", "refund", "write-off"):
        assert f"/{way}/" in page
    assert "/keep/" not in page and "/recover-prepaid/" not in page
    cashier = Client()
    cashier.force_login(w.cashier)
    apply = url.replace("/change/", "/apply-bills/")
    form = {"_form_submitted": "on", "reason": "查明为903业主", "unit": other.pk}
    assert cashier.post(apply, form).status_code == 403
    assert client.post(apply, form).status_code == 302
    anomaly.refresh_from_db()
    assert anomaly.resolution == R.APPLY_TO_BILLS and anomaly.resolution_unit == other
    assert client.post(apply, form).status_code == 403  # resolved: no longer offered
    _done(w)
