"""Scan to pay at the counter: the cashier shows a QR code for the ticked bills, the
owner pays it on their phone, the page follows the order to the payment and its
receipt. A cash payment of bills someone is about to pay by phone closes that order."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from linli import testing as t
from linli.billing.models import Bill
from linli.counter.selectors import receipt_pdf_url
from linli.payments.models import Channel, Payment, PaymentOrder
from linli.payments.tests.helpers import billed_unit, check_ok, grant, sandbox_account
from linli.staff.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(estate, client):
    community = estate["a1"]
    sandbox_account(community)
    unit, bills = billed_unit(community, room="802", periods=("2024-01", "2024-02"))
    cashier = grant(t.make_staff(estate["company_a"], Role.CASHIER, [community]),
                    "billing.view_bill", "payments.add_payment", "payments.view_payment")
    client.force_login(cashier)
    page = client.get(reverse("counter:unit", args=[unit.pk])).content.decode()
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)
    return {"unit": unit, "bills": bills, "page": page, "key": key, "cashier": cashier}


def scan(client, desk, channel=Channel.SANDBOX, bills=None):
    bills = desk["bills"] if bills is None else bills
    return client.post(reverse("counter:scan", args=[desk["unit"].pk]), {
        "key": desk["key"], "scan_channel": channel, "bills": [b.pk for b in bills],
        "channel": "cash", "received": "", "seen": ""})


def test_the_counter_offers_scanning_only_by_channels_the_community_has(desk):
    assert 'id="counter-scan-sandbox"' in desk["page"]
    assert 'id="counter-scan-wechat"' not in desk["page"]


def test_scan_pay_follows_the_order_to_the_payment_and_its_receipt(client, desk):
    response = scan(client, desk)
    order = PaymentOrder.objects.get()
    assert response.status_code == 302 and response.url == reverse("counter:order",
                                                                  args=[order.pk])
    assert order.payer == desk["cashier"] and order.amount_fen == 20000
    page = client.get(response.url).content.decode()
    assert "¥200.00" in page and "<svg" in page and "非真实资金" in page
    status = client.get(reverse("counter:order-status", args=[order.pk])).json()
    assert status["open"] and status["payment_url"] == ""

    # The owner pays on the sandbox page the QR code opens.
    assert client.post(reverse("pay:sandbox-page", args=[order.out_trade_no])).status_code == 200
    status = client.get(reverse("counter:order-status", args=[order.pk])).json()
    payment = Payment.objects.get()
    assert not status["open"] and status["status"] == "paid"
    assert status["payment_url"] == reverse("counter:payment", args=[payment.pk])
    paid_page = client.get(reverse("counter:order", args=[order.pk])).content.decode()
    assert status["payment_url"] in paid_page and "<svg" not in paid_page
    assert receipt_pdf_url(payment) in client.get(status["payment_url"]).content.decode()
    assert set(Bill.objects.filter(unit=desk["unit"]).values_list("status", flat=True)) == {"paid"}
    check_ok()


def test_a_double_click_makes_one_order(client, desk):
    first, second = scan(client, desk), scan(client, desk)
    assert first.url == second.url and PaymentOrder.objects.count() == 1


def test_no_scan_for_a_channel_the_community_lacks_or_another_communitys_order(
        client, desk, estate):
    response = scan(client, desk, channel=Channel.WECHAT)
    assert response.status_code == 302 and not PaymentOrder.objects.exists()
    other = billed_unit(estate["a2"], room="803", periods=("2024-01",))[0]
    sandbox_account(estate["a2"])
    assert client.post(reverse("counter:scan", args=[other.pk]), {
        "key": desk["key"], "scan_channel": "sandbox"}).status_code == 404
    scan(client, desk)
    order = PaymentOrder.objects.get()
    client.force_login(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a2"]]))
    for name in ("counter:order", "counter:order-status"):
        assert client.get(reverse(name, args=[order.pk])).status_code in (403, 404)


def test_cancel_closes_the_order_and_a_cash_payment_closes_open_orders(client, desk):
    scan(client, desk)
    order = PaymentOrder.objects.get()
    client.post(reverse("counter:order-close", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.CLOSED and order.close_at_gateway

    # A new QR code, then the owner pays cash after all: the QR order is closed.
    page = client.get(reverse("counter:unit", args=[desk["unit"].pk])).content.decode()
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page).group(1)
    seen = re.search(r'name="seen" value="([^"]*)"', page).group(1)
    scan(client, dict(desk, key=key))
    phone_order = PaymentOrder.objects.filter(status=PaymentOrder.Status.PENDING).get()
    cash = client.post(reverse("counter:unit", args=[desk["unit"].pk]), {
        "key": key, "seen": seen, "bills": [b.pk for b in desk["bills"]], "channel": "cash",
        "received": "200.00", "payer_name": "张三", "action": "confirm"})
    assert cash.status_code == 302, cash.content.decode()[:2000]
    phone_order.refresh_from_db()
    assert phone_order.status == PaymentOrder.Status.CLOSED and phone_order.close_at_gateway
    check_ok()


def test_outside_the_demo_the_sandbox_takes_nothing(client, desk, settings):
    scan(client, desk)
    order = PaymentOrder.objects.get()
    settings.LINLI_SANDBOX_PAYMENTS = False
    page = client.get(reverse("counter:unit", args=[desk["unit"].pk])).content.decode()
    assert 'id="counter-scan-sandbox"' not in page
    assert client.post(reverse("pay:sandbox-page", args=[order.out_trade_no])).status_code == 404
    assert client.post(order.account.notify_path(), data=b"{}",
                       content_type="application/json").status_code == 404
    order.refresh_from_db()
    assert order.is_open and not Payment.objects.exists()
