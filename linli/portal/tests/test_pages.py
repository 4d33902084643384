"""The portal's pages through Django's test client: what an owner sees and can do."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from linli import testing as t
from linli.billing.models import Bill, BillAdjustment
from linli.billing.services.adjustments import bill_adjustment_request
from linli.money import format_fen
from linli.payments.models import Channel, PaymentOrder, PrepaidWallet
from linli.payments.orders import order_cancel
from linli.payments.services import payment_record
from linli.payments.tests.helpers import billed_unit, fixed_fee, issue, sandbox_account
from linli.portal.tests.conftest import make_owner, signed_in
from linli.receipts.models import Receipt

PAGES = ("portal:home", "portal:bills", "portal:history", "portal:me")


def key_of(response) -> str:
    return re.search(rb'name="key" value="([^"]+)"', response.content).group(1).decode()


def text(response) -> str:
    return response.content.decode()


def pay_sandbox(client: Client, world_or_unit, bills=None, key=None, option="sandbox:sandbox"):
    unit = world_or_unit
    page = client.get(reverse("portal:pay", args=[unit.pk]))
    ids = [b.pk for b in bills] if bills is not None else [
        int(x) for x in re.findall(rb'type="hidden" name="bill" value="(\d+)"', page.content)]
    return client.post(reverse("portal:pay", args=[unit.pk]),
                       {"key": key or key_of(page), "bill": ids, "option": option})


@pytest.mark.parametrize("name", PAGES)
def test_pages_need_an_owner(world, name):
    response = Client().get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("owners:signin") + "?next=")
    staff = t.make_staff(world.community.company, "cashier", [world.community])
    response = signed_in(staff).get(reverse(name))
    assert response.status_code == 302  # staff are not owners


@pytest.mark.parametrize("name", PAGES)
def test_pages_are_small_and_mobile_ready(world, name):
    response = world.a.client.get(reverse(name))
    assert response.status_code == 200
    assert len(response.content) < 100_000
    assert b'name="viewport" content="width=device-width' in response.content
    assert b'class="bottomnav"' in response.content


def test_static_assets_are_small():
    from django.contrib.staticfiles import finders

    total = sum(len(open(finders.find(f"portal/{name}"), "rb").read())
                for name in ("portal.css", "portal.js"))
    assert total < 15_000


def test_home_shows_each_unit_with_what_is_owed(world):
    response = world.a.client.get(reverse("portal:home"))
    body = text(response)
    assert str(world.a.unit) in body and str(world.b.unit) not in body
    assert format_fen(20000) in body  # two bills of 100 yuan
    assert reverse("portal:pay", args=[world.a.unit.pk]) in body
    assert "2024-01-31" in body  # the earliest due date


def test_home_total_includes_late_fees_and_is_what_the_order_charges(estate):
    community = estate["a2"]
    sandbox_account(community)
    fixed_fee(community, price="100.00", late_fee_enabled=True,
              late_fee_daily_rate=Decimal("0.001"))
    unit = t.make_unit(community, building="9栋", room="901")
    person = t.make_person(community)
    t.make_occupancy(unit, person)
    issue(community, "2024-01")
    user = t.make_owner(person.mobile)
    client = signed_in(user)
    home = text(client.get(reverse("portal:home")))
    shown = int(re.search(r'data-fen="(\d+)"', home).group(1))
    assert shown > 10000  # principal plus a late fee
    response = pay_sandbox(client, unit)
    assert response.status_code == 302
    assert PaymentOrder.objects.get(unit=unit).amount_fen == shown


def test_home_without_units_links_to_binding(db):
    user = t.make_owner("13900001111")
    body = text(signed_in(user).get(reverse("portal:home")))
    assert "No home is linked" in body or "尚未" in body


def test_bills_tabs_group_by_unit_and_period_and_show_closed_bills(world):
    first, second = world.a.bills
    payment_record(acting_user=None, unit=world.a.unit, channel=Channel.CASH,
                   amount_fen=first.amount_fen, bill_ids=[first.pk], idempotency_key="p1")
    bill_adjustment_request(acting_user=None, bill=second,
                            kind=BillAdjustment.Kind.CANCELLATION, reason="wrong bill")
    assert Bill.objects.get(pk=second.pk).status == Bill.Status.CANCELLED
    unpaid = text(world.a.client.get(reverse("portal:bills")))
    assert "No unpaid bills" in unpaid or reverse("portal:bill", args=[first.pk]) not in unpaid
    paid = text(world.a.client.get(reverse("portal:bills") + "?tab=paid"))
    assert reverse("portal:bill", args=[first.pk]) in paid
    assert reverse("portal:bill", args=[second.pk]) in paid
    assert "badge-cancelled" in paid and "badge-paid" in paid
    assert paid.count('class="card group"') == 2  # 2024-01 and 2024-02
    for bill in world.b.bills:
        assert reverse("portal:bill", args=[bill.pk]) not in paid + unpaid


def test_bills_page_pages_without_counting(world, django_assert_max_num_queries):
    unit, _ = billed_unit(world.community, room="803",
                          periods=[f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
                          + [f"2026-{m:02d}" for m in range(1, 8)])
    person = t.make_person(world.community)
    t.make_occupancy(unit, person)
    user = t.make_owner(person.mobile)
    client = signed_in(user)
    with django_assert_max_num_queries(8):
        first = client.get(reverse("portal:bills"))
    assert first.context["has_next"]
    second = client.get(reverse("portal:bills") + "?page=2")
    shown = set(re.findall(r"/m/bills/(\d+)/", text(first)))
    assert shown and shown.isdisjoint(re.findall(r"/m/bills/(\d+)/", text(second)))


def test_bill_page_shows_its_items(world):
    bill = world.a.bills[0]
    bill_adjustment_request(acting_user=None, bill=bill, kind=BillAdjustment.Kind.DISCOUNT,
                            amount_fen=1000, reason="老人优惠")
    body = text(world.a.client.get(reverse("portal:bill", args=[bill.pk])))
    for expected in (bill.fee_item.name, bill.standard.name, "2024-01-31", format_fen(10000),
                     "老人优惠", format_fen(1000), "¥100"):
        assert expected in body, expected


def test_area_bill_shows_area(estate):
    from linli.billing.services import config

    community = estate["b1"]
    item = config.fee_item_create(acting_user=None, community=community, name="物业费",
                                  category="property")
    std = config.standard_create(acting_user=None, fee_item=item, name="住宅 2.5元/㎡",
                                 method="building_area", due_days=30)
    config.standard_rate_add(acting_user=None, standard=std, effective_from=dt.date(2024, 1, 1),
                             unit_price=Decimal("2.5000"))
    config.binding_create(acting_user=None, standard=std, scope="community",
                          start_date=dt.date(2024, 1, 1))
    user, unit, bills = make_owner(community, "1201")
    bill = Bill.objects.get(unit=unit, period_key="2024-01")
    body = text(signed_in(user).get(reverse("portal:bill", args=[bill.pk])))
    assert "88.5 m²" in body and "¥2.5" in body and format_fen(22125) in body


def test_pay_page_preselects_everything_due_and_totals_on_the_server(world):
    page = world.a.client.get(reverse("portal:pay", args=[world.a.unit.pk]))
    assert page.context["total_fen"] == 20000
    assert b"Sandbox" in page.content or "模拟".encode() in page.content
    one = world.a.client.get(reverse("portal:pay", args=[world.a.unit.pk])
                             + f"?bill={world.a.bills[1].pk}")
    assert one.context["total_fen"] == 10000
    assert one.context["selected_ids"] == {world.a.bills[1].pk}


def test_double_submitted_pay_form_creates_one_order(world):
    page = world.a.client.get(reverse("portal:pay", args=[world.a.unit.pk]))
    key = key_of(page)
    ids = [b.pk for b in world.a.bills]
    responses = [world.a.client.post(reverse("portal:pay", args=[world.a.unit.pk]),
                                     {"key": key, "bill": ids, "option": "sandbox:sandbox"})
                 for _ in range(3)]
    assert PaymentOrder.objects.count() == 1
    order = PaymentOrder.objects.get()
    assert {r["Location"] for r in responses} == {
        f"http://testserver/pay/sandbox/{order.out_trade_no}/"}
    assert order.amount_fen == 20000 and order.payer == world.a.user


def test_pay_through_sandbox_then_receipt_and_verify(world):
    response = pay_sandbox(world.a.client, world.a.unit)
    order = PaymentOrder.objects.get()
    assert response["Location"].endswith(reverse("pay:sandbox-page", args=[order.out_trade_no]))
    result = world.a.client.get(reverse("portal:order", args=[order.pk]))
    assert result.context["follow"] and b"data-follow" in result.content
    status = world.a.client.get(reverse("portal:order-status", args=[order.pk])).json()
    assert status == {"status": "pending", "open": True, "paid": False}
    world.a.client.post(response["Location"])  # "pay" on the sandbox page
    status = world.a.client.get(reverse("portal:order-status", args=[order.pk])).json()
    assert status["paid"] is True
    result = world.a.client.get(reverse("portal:order", args=[order.pk]))
    receipt = Receipt.objects.get(payment__unit=world.a.unit)
    body = text(result)
    assert reverse("portal:receipt-pdf", args=[receipt.pk]) in body
    pdf = world.a.client.get(reverse("portal:receipt-pdf", args=[receipt.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    verify = re.search(r'id="receipt-verify" href="([^"]+)"', body).group(1)
    page = Client().get(verify.replace("http://testserver", ""))
    assert page.status_code == 200 and page.context["genuine"]
    assert all(b.status == Bill.Status.PAID for b in Bill.objects.filter(unit=world.a.unit))
    history = text(world.a.client.get(reverse("portal:history")))
    assert receipt.number in history and "/r/" in history
    # The back button and a re-sent form: no second order, straight to the paid result.
    again = world.a.client.post(reverse("portal:pay", args=[world.a.unit.pk]), {
        "key": order.idempotency_key.split(":", 1)[1], "bill": [b.pk for b in world.a.bills],
        "option": "sandbox:sandbox"})
    assert PaymentOrder.objects.count() == 1
    assert again["Location"] == reverse("portal:order", args=[order.pk])


def test_abandoned_attempt_can_be_retried_at_once(world):
    pay_sandbox(world.a.client, world.a.unit)
    first = PaymentOrder.objects.get()
    order_cancel(first)
    result = world.a.client.get(reverse("portal:order", args=[first.pk]))
    assert not result.context["follow"]
    retry = result.context["retry_url"]
    page = world.a.client.get(retry)
    assert page.context["total_fen"] == 20000
    response = world.a.client.post(reverse("portal:pay", args=[world.a.unit.pk]), {
        "key": key_of(page), "bill": [b.pk for b in world.a.bills],
        "option": "sandbox:sandbox"})
    assert response.status_code == 302
    assert PaymentOrder.objects.filter(status=PaymentOrder.Status.PENDING).count() == 1


def test_return_url_finds_the_attempt_by_its_key(world):
    page = world.a.client.get(reverse("portal:pay", args=[world.a.unit.pk]))
    key = key_of(page)
    world.a.client.post(reverse("portal:pay", args=[world.a.unit.pk]),
                        {"key": key, "bill": [b.pk for b in world.a.bills],
                         "option": "sandbox:sandbox"})
    order = PaymentOrder.objects.get()
    back = world.a.client.get(reverse("portal:order-return", args=[key]))
    assert back["Location"] == reverse("portal:order", args=[order.pk])
    assert world.b.client.get(reverse("portal:order-return", args=[key])).status_code == 404


def test_bad_choices_are_refused_with_a_message(world):
    url = reverse("portal:pay", args=[world.a.unit.pk])
    page = world.a.client.get(url)
    response = world.a.client.post(url, {"key": key_of(page), "bill": [world.a.bills[0].pk],
                                         "option": "wechat:native"})
    assert response.status_code == 400 and response.context["error"]
    response = world.a.client.post(url, {"key": key_of(page), "bill": [world.b.bills[0].pk],
                                         "option": "sandbox:sandbox"})
    assert response.status_code == 400
    assert PaymentOrder.objects.count() == 0


def test_topup_through_the_payment_flow(world):
    url = reverse("portal:topup", args=[world.a.unit.pk])
    page = world.a.client.get(url)
    bad = world.a.client.post(url, {"key": key_of(page), "amount": "abc",
                                    "option": "sandbox:sandbox"})
    assert bad.status_code == 400 and PaymentOrder.objects.count() == 0
    response = world.a.client.post(url, {"key": key_of(page), "amount": "300.50",
                                         "option": "sandbox:sandbox"})
    order = PaymentOrder.objects.get()
    assert order.amount_fen == 30050 and not order.lines.exists()
    world.a.client.post(response["Location"])
    assert PrepaidWallet.objects.get(unit=world.a.unit).balance_fen == 30050
    assert all(b.status == Bill.Status.UNPAID for b in world.a.bills)
    result = text(world.a.client.get(reverse("portal:order", args=[order.pk])))
    assert 'id="receipt-pdf"' in result
    history = text(world.a.client.get(reverse("portal:history")))
    assert format_fen(30050) in history


def test_language_switch_to_english_and_chinese_by_default(world):
    chinese = text(world.a.client.get(reverse("portal:home")))
    assert 'lang="zh-hans"' in chinese
    world.a.client.post("/i18n/setlang/", {"language": "en", "next": "/m/"})
    english = text(world.a.client.get(reverse("portal:home")))
    assert 'lang="en"' in english and "Pay everything due" in english


def test_poster_link_without_a_home_there_offers_binding(world, estate):
    body = text(world.a.client.get(reverse("portal:home") + f"?c={estate['a2'].pk}"))
    assert estate["a2"].name in body
    body = text(world.a.client.get(reverse("portal:home") + f"?c={world.community.pk}"))
    assert "is not linked" not in body and "尚未关联" not in body



def test_each_period_has_its_own_pay_button(world):
    body = text(world.a.client.get(reverse("portal:bills")))
    for bill in world.a.bills:
        assert f"/m/pay/{world.a.unit.pk}/?bill={bill.pk}\"" in body


def test_an_attempt_past_its_expiry_offers_a_new_one(world):
    pay_sandbox(world.a.client, world.a.unit)
    order = PaymentOrder.objects.get()
    PaymentOrder.objects.filter(pk=order.pk).update(
        expires_at=order.created_at - dt.timedelta(seconds=1))
    page = world.a.client.get(reverse("portal:order", args=[order.pk]))
    assert not page.context["follow"] and b'id="retry"' in page.content
    assert b"data-follow" not in page.content


def test_unticking_every_bill_chooses_none(world):
    page = world.a.client.get(reverse("portal:pay", args=[world.a.unit.pk]) + "?chosen=1")
    assert page.context["total_fen"] == 0 and b'id="pay-submit"' not in page.content


def test_metered_bill_shows_usage_readings_and_tiers(estate):
    from linli.billing.models import FeeItem
    from linli.billing.services import config
    from linli.billing.services.meters import meter_ensure, reading_record

    community = estate["b1"]
    water = config.standard_create(
        acting_user=None, fee_item=FeeItem.objects.create(community=community, name="水费",
                                                          category="water"),
        name="阶梯水价", method="metered", meter_kind="water", timing="arrears")
    config.standard_rate_add(acting_user=None, standard=water, effective_from=dt.date(2024, 1, 1),
                             unit_price="3.5", tiers=[{"up_to": "10", "price": "3.5"},
                                                      {"up_to": None, "price": "4.8"}])
    config.binding_create(acting_user=None, standard=water, scope="community",
                          start_date=dt.date(2024, 1, 1))
    unit = t.make_unit(community, building="7栋", room="701")
    person = t.make_person(community)
    t.make_occupancy(unit, person)
    meter = meter_ensure(acting_user=None, unit=unit, kind="water")
    reading_record(acting_user=None, meter=meter, period_key="2024-01", value=Decimal("100"))
    reading_record(acting_user=None, meter=meter, period_key="2024-02", value=Decimal("116.5"))
    issue(community, "2024-02")
    bill = Bill.objects.get(unit=unit, reading__isnull=False)
    client = signed_in(t.make_owner(person.mobile))
    facts = text(client.get(reverse("portal:bill", args=[bill.pk])))
    facts = re.sub(r"\s+", " ", facts[facts.index("<dl"):facts.index("</dl>")])
    assert "16.5" in facts and "100 → 116.5" in facts
    assert "10 × ¥3.50 + 6.5 × ¥4.80" in facts and format_fen(6620) in facts
