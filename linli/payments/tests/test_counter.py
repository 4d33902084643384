"""The counter desk (前台收费): find a unit of one's own communities, tick its bills, review
what the server computed (change for cash, excess kept as prepaid for the rest), confirm —
once, however often the form is sent — and never for another unit's or community's bill,
nor for bills that changed while the page was open."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from functools import partial

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill
from linli.billing.selectors import bill_with_balance
from linli.counter.forms import parse_amount_fen
from linli.payments.models import Channel, Payment, PaymentAllocation
from linli.payments.services import payment_record
from linli.payments.tests import helpers
from linli.payments.tests.helpers import check_ok, grant, issue, wallet_fen
from linli.staff.models import Role

# A fixed monthly charge per unit with no late fee: amounts easy to follow.
fixed_fee = partial(helpers.fixed_fee, name="公摊水电", category="shared")



def period(months_ago: int) -> str:
    """A past month (YYYY-MM) relative to today, so its bill is overdue whenever the
    tests run."""
    today = timezone.localdate()
    index = today.year * 12 + today.month - 1 - months_ago
    return f"{index // 12:04d}-{index % 12 + 1:02d}"






def unit_url(unit) -> str:
    return f"/console/payments/counter/units/{unit.pk}/"


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def ticked(html: str) -> list[int]:
    return sorted(int(v) for v in re.findall(
        r'<input type="checkbox" name="bills" value="(\d+)" data-due-fen="\d+" checked', html))


@pytest.fixture
def cashier(estate):
    return grant(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]),
                 "billing.view_bill", "payments.add_payment", "payments.view_payment")


@pytest.fixture
def two_bills(estate):
    """Two overdue ¥100 bills of A1's unit, and one of a neighbour in A1 and of A2's unit."""
    community = estate["a1"]
    fixed_fee(community)
    fixed_fee(estate["a2"])
    neighbour = t.make_unit(community)
    issue(community, period(3), period(2))
    issue(estate["a2"], period(2))
    unit = estate["a1_unit"]
    return {"unit": unit, "bills": list(Bill.objects.filter(unit=unit).order_by("period_key")),
            "neighbour_bill": Bill.objects.filter(unit=neighbour).first(),
            "a2_bill": Bill.objects.get(unit=estate["a2_unit"])}


def open_form(client, unit) -> dict:
    """What the counter page posts as shown: its key, the bills it ticked, the figures."""
    page = client.get(unit_url(unit))
    assert page.status_code == 200
    html = page.content.decode()
    return {"key": hidden(html, "key"), "seen": hidden(html, "seen"), "bills": ticked(html),
            "channel": Channel.CASH, "payer_name": "张三", "reference": "",
            "received": page.context["form"]["received"].value()}


# --- finding a unit ------------------------------------------------------------------------


@pytest.mark.django_db
def test_search_by_room_name_or_phone_finds_only_units_of_ones_communities(estate, cashier,
                                                                           client):
    found_here = {}
    for key in ("a1", "a2", "b1"):
        unit = t.make_unit(estate[key], building="7栋", room="1801")
        person = t.make_person(estate[key], name="欧阳修", mobile=f"1390000{ {'a1': 1, 'a2': 2, 'b1': 3}[key]:04d}")
        t.make_occupancy(unit, person)
        found_here[key] = unit
    client.force_login(cashier)
    desk = "/console/payments/counter/"
    for criteria in ({"room": "1801"}, {"building": "7栋", "room": "1801"}, {"name": "欧阳"},
                     {"phone": "1390000"}, {"phone": "0001"}):
        page = client.get(desk, criteria)
        assert page.status_code == 200
        html = page.content.decode()
        assert unit_url(found_here["a1"]) in html, criteria
        assert unit_url(found_here["a2"]) not in html and unit_url(found_here["b1"]) not in html
        assert "13900000001" not in html and "139****0001" in html  # the mobile, masked
    assert unit_url(found_here["a1"]) not in client.get(desk, {"phone": "0002"}).content.decode()
    assert client.get(desk, {"community": estate["b1"].pk, "room": "1801"}).status_code == 404
    nothing = client.get(desk, {"room": "9999"})
    assert nothing.status_code == 200 and "/counter/units/" not in nothing.content.decode()


@pytest.mark.django_db
def test_the_counter_needs_the_permission_to_take_money_and_scope(estate, cashier, client):
    client.force_login(cashier)
    assert client.get(unit_url(estate["a1_unit"])).status_code == 200
    assert client.get(unit_url(estate["a2_unit"])).status_code == 404
    assert client.get(unit_url(estate["b1_unit"])).status_code == 404
    finance = t.make_staff(estate["company_a"], Role.FINANCE, [estate["a1"]])
    client.force_login(finance)
    assert client.get("/console/payments/counter/").status_code == 403
    assert client.get(unit_url(estate["a1_unit"])).status_code == 403


# --- paying ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_paying_two_bills_in_cash_records_one_payment_and_gives_change(estate, cashier, client,
                                                                       two_bills):
    unit, bills = two_bills["unit"], two_bills["bills"]
    client.force_login(cashier)
    data = open_form(client, unit)
    assert data["bills"] == [b.pk for b in bills]  # overdue bills come ticked
    assert data["received"] == "200.00"  # the default is the total

    data["received"] = "250"
    review = client.post(unit_url(unit), {**data, "action": "review"})
    assert review.status_code == 200 and not Payment.objects.exists()  # review writes nothing
    figures = review.context["review"]
    assert (figures["due"], figures["amount"], figures["change"]) == ("¥200.00", "¥200.00",
                                                                      "¥50.00")
    html = review.content.decode()
    confirm = {"key": data["key"], "bills": re.findall(r'name="bills" value="(\d+)">', html),
               "seen": re.search(r'id="counter-confirm-form">.*?name="seen" value="([^"]*)"',
                                 html, re.S).group(1),
               "channel": "cash", "payer_name": "张三", "reference": "", "received": "250.00",
               "action": "confirm"}
    done = client.post(unit_url(unit), confirm)
    payment = Payment.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/console/payments/counter/payments/{payment.pk}/"
    assert (payment.amount_fen, payment.channel, payment.cashier, payment.payer_name) == (
        20000, Channel.CASH, cashier, "张三")
    assert "¥50.00" in payment.note  # the change handed back, kept on the payment
    assert sorted(PaymentAllocation.objects.values_list("bill_id", "principal_fen")) == [
        (bills[0].pk, 10000), (bills[1].pk, 10000)]
    assert [bill_with_balance(b.pk).status for b in bills] == [Bill.Status.PAID] * 2
    assert wallet_fen(unit) == 0

    result = client.get(done["Location"])
    assert result.status_code == 200
    assert [row[4] for row in result.context["allocations_table"]["rows"]] == ["¥100.00"] * 2
    html = result.content.decode()
    assert "/console/payments/counter/" in html  # "Next payer"
    receipt = Payment.objects.get().receipt  # issued with the payment (linli.receipts)
    assert result.context["receipt_url"] == f"/console/receipts/{receipt.pk}/pdf/"
    assert result.context["receipt_url"] in html and receipt.number in html
    check_ok()


@pytest.mark.django_db
def test_the_same_form_sent_twice_records_one_payment(estate, cashier, client, two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    first = client.post(unit_url(unit), data)
    again = client.post(unit_url(unit), data)
    review_again = client.post(unit_url(unit), {**data, "action": "review"})
    assert first.status_code == again.status_code == review_again.status_code == 302
    assert first["Location"] == again["Location"] == review_again["Location"]
    assert Payment.objects.count() == 1 and PaymentAllocation.objects.count() == 2
    fresh = open_form(client, unit)
    assert fresh["key"] != data["key"] and fresh["bills"] == []  # nothing left to tick
    check_ok()


@pytest.mark.django_db
def test_a_bill_of_another_unit_or_community_is_refused_and_nothing_recorded(
        estate, cashier, client, two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    for foreign in (two_bills["neighbour_bill"], two_bills["a2_bill"]):
        response = client.post(unit_url(unit), {**data, "bills": [*data["bills"], foreign.pk],
                                                 "seen": f"{data['seen']},{foreign.pk}:10000"})
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
    # A unit of another community answers 404, even with its own bill.
    a2_data = {**data, "bills": [two_bills["a2_bill"].pk],
               "seen": f"{two_bills['a2_bill'].pk}:10000"}
    assert client.post(unit_url(estate["a2_unit"]), a2_data).status_code == 404
    assert client.post(unit_url(estate["b1_unit"]), a2_data).status_code == 404
    assert not Payment.objects.exists()
    assert Bill.objects.filter(status=Bill.Status.UNPAID).count() == Bill.objects.count()


@pytest.mark.django_db
def test_bills_paid_meanwhile_stop_the_payment_and_the_page_says_what_changed(
        estate, cashier, client, two_bills):
    unit, bills = two_bills["unit"], two_bills["bills"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    payment_record(acting_user=None, unit=unit, channel=Channel.WECHAT, amount_fen=10000,
                   bill_ids=[bills[0].pk], idempotency_key="online-meanwhile")
    response = client.post(unit_url(unit), data)
    assert response.status_code == 200
    assert Payment.objects.count() == 1  # only the online one
    changes = [c.text for c in response.context["changes"]]
    assert len(changes) == 1 and period(3) in changes[0]
    assert ticked(response.content.decode()) == [bills[1].pk]  # what is still open stays ticked
    # Sent again with the figures the page now shows, it goes through.
    html = response.content.decode()
    retry = {**data, "bills": [bills[1].pk], "seen": hidden(html, "seen"), "received": "100"}
    assert client.post(unit_url(unit), retry).status_code == 302
    assert bill_with_balance(bills[1].pk).status == Bill.Status.PAID
    check_ok()


@pytest.mark.django_db
def test_no_bill_ticked_is_refused(estate, cashier, client, two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm", "bills": []}
    response = client.post(unit_url(unit), data)
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not Payment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["12.345", "0", "-5", "abc", "", "1e3", "0.00", "1.2.3"])
def test_an_amount_received_that_is_no_real_amount_is_refused(estate, cashier, client, two_bills,
                                                              amount):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm", "received": amount}
    response = client.post(unit_url(unit), data)
    assert response.status_code == 200 and response.context["form"].errors["received"]
    assert not Payment.objects.exists()


@pytest.mark.parametrize(("text", "fen"), [("123.45", 12345), ("1,234.5", 123450), ("¥88", 8800),
                                           ("１２.０１", 1201), ("0.01", 1), (" 7元 ", 700)])
def test_amounts_in_yuan_become_exact_fen(text, fen):
    assert parse_amount_fen(text) == fen


@pytest.mark.parametrize("text", ["12.345", "-1", "0", "abc", "1e3", "", "NaN", "12,34"])
def test_amounts_that_are_not_money_are_refused(text):
    with pytest.raises(ValidationError):
        parse_amount_fen(text)


@pytest.mark.django_db
def test_more_than_due_by_transfer_is_announced_and_kept_as_prepaid(estate, cashier, client,
                                                                    two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "channel": Channel.TRANSFER, "received": "260.50"}
    no_number = client.post(unit_url(unit), {**data, "action": "review"})
    assert no_number.context["form"].errors["reference"]  # a transfer needs its number
    data["reference"] = "HZ-20261127-01"
    review = client.post(unit_url(unit), {**data, "action": "review"})
    assert review.context["review"]["excess"] == "¥60.50"
    assert "¥60.50" in review.content.decode()  # said before confirming
    assert not Payment.objects.exists()
    assert client.post(unit_url(unit), {**data, "action": "confirm"}).status_code == 302
    payment = Payment.objects.get()
    assert (payment.amount_fen, payment.reference, payment.note) == (26050, "HZ-20261127-01", "")
    assert wallet_fen(unit) == 6050
    check_ok()


@pytest.mark.django_db
def test_cash_change_can_be_kept_as_prepaid_and_less_pays_the_earliest_first(
        estate, cashier, client, two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm", "received": "250",
            "keep_change": "on"}
    client.post(unit_url(unit), data)
    assert Payment.objects.get().amount_fen == 25000 and wallet_fen(unit) == 5000

    fixed_fee(estate["a1"], name="车位管理费", price="80.00")
    issue(estate["a1"], period(1))
    data = {**open_form(client, unit), "action": "review", "received": "50"}
    review = client.post(unit_url(unit), data)
    assert review.context["review"]["short"] == "¥130.00"  # ¥100 + ¥80 due, ¥50 paid
    client.post(unit_url(unit), {**data, "action": "confirm"})
    month = list(Bill.objects.filter(unit=unit, period_key=period(1)).order_by("due_date", "pk"))
    owed = [bill_with_balance(b.pk).owed_fen for b in month]
    assert owed == [month[0].amount_fen - 5000, month[1].amount_fen]  # the first in line
    assert wallet_fen(unit) == 5000  # paying less never touches the prepaid balance
    check_ok()


@pytest.mark.django_db
def test_late_fees_as_of_today_are_shown_and_charged(estate, cashier, client):
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community, price="1000.00", late_fee_enabled=True,
              late_fee_daily_rate=Decimal("0.001"), late_fee_grace_days=0)
    issue(community, period(3))
    bill = Bill.objects.get(unit=unit)
    days = (timezone.localdate() - bill.due_date).days
    assert days > 0
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    late_fen = int(Decimal(100000) * Decimal("0.001") * days)  # whole fen at 0.1 %/day
    assert data["received"] == f"{(100000 + late_fen) // 100}.{(100000 + late_fen) % 100:02d}"
    client.post(unit_url(unit), data)
    allocation = PaymentAllocation.objects.get()
    assert (allocation.principal_fen, allocation.late_fee_fen) == (100000, late_fen)
    check_ok()


# --- prepaid deposit from the counter page ---------------------------------------------------


@pytest.mark.django_db
def test_a_deposit_from_the_counter_page_is_recorded_once(estate, cashier, client):
    unit = estate["a1_unit"]
    client.force_login(cashier)
    html = client.get(unit_url(unit)).content.decode()
    key = hidden(html, "deposit-key")
    data = {"deposit-key": key, "deposit-amount": "500", "deposit-channel": Channel.POS,
            "deposit-reference": "", "deposit-payer_name": "张三"}
    url = f"{unit_url(unit)}deposit/"
    refused = client.post(url, data)
    assert refused.status_code == 200 and refused.context["deposit_form"].errors["reference"]
    data["deposit-reference"] = "POS-778"
    first, again = client.post(url, data), client.post(url, data)
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    payment = Payment.objects.get()
    assert (payment.amount_fen, payment.channel, payment.reference) == (50000, "pos", "POS-778")
    assert wallet_fen(unit) == 50000
    result = client.get(first["Location"])
    assert result.context["kept"] == "¥500.00"
    assert client.post(f"{unit_url(estate['a2_unit'])}deposit/", data).status_code == 404
    check_ok()


@pytest.mark.django_db
def test_a_payment_page_of_another_community_is_not_found(estate, cashier, client, two_bills):
    other = payment_record(acting_user=None, unit=estate["a2_unit"], channel=Channel.CASH,
                           amount_fen=10000, bill_ids=[two_bills["a2_bill"].pk],
                           idempotency_key="a2-pay")
    client.force_login(cashier)
    assert client.get(f"/console/payments/counter/payments/{other.pk}/").status_code == 404


# --- two clicks at the same moment (PostgreSQL) --------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_confirms_at_the_same_moment_record_one_payment(estate, cashier, two_bills):
    unit = two_bills["unit"]
    client = Client()
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    start = threading.Barrier(2, timeout=20)
    outcomes = []

    def confirm():
        try:
            own = Client()
            own.force_login(cashier)
            start.wait()
            response = own.post(unit_url(unit), data)
            outcomes.append((response.status_code, response.get("Location")))
        except Exception as exc:  # noqa: BLE001 — recorded and asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2 and not [o for o in outcomes if isinstance(o, Exception)], outcomes
    payment = Payment.objects.get()
    assert outcomes == [(302, f"/console/payments/counter/payments/{payment.pk}/")] * 2
    assert PaymentAllocation.objects.count() == 2
    check_ok()


@pytest.mark.django_db
def test_a_form_without_its_key_records_nothing_and_says_so(estate, cashier, client, two_bills):
    unit = two_bills["unit"]
    client.force_login(cashier)
    data = {**open_form(client, unit), "action": "confirm"}
    del data["key"]
    response = client.post(unit_url(unit), data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Payment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "desk", "takings"), [
    (Role.CASHIER, True, True), (Role.MANAGER, True, True), (Role.FINANCE, False, True),
    (Role.SERVICE, False, False)])
def test_the_sidebar_offers_the_counter_to_whoever_takes_money(estate, client, role, desk,
                                                               takings):
    client.force_login(t.make_staff(estate["company_a"], role, [estate["a1"]]))
    home = client.get("/console/")
    links = {item["link"] for group in home.context["sidebar_navigation"]
             for item in group["items"]}
    assert ("/console/payments/counter/" in links) is desk
    assert ("/console/payments/takings/" in links) is takings
