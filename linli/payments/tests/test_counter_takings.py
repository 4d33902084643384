"""The cashier's daily takings (交班): every counter payment a cashier took on a day (in
Asia/Shanghai) within the viewer's communities, with totals per channel that match the
payments; printable and exportable; a cashier sees their own, a manager or finance any
cashier of their communities, and nobody anything of another community."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from linli import testing as t
from linli.payments.models import Channel, Payment
from linli.payments.services import payment_record
from linli.staff.models import Role

DAY = dt.date(2026, 11, 20)
SHANGHAI = timezone.get_fixed_timezone(8 * 60)
URL = "/console/payments/takings/"


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def take(cashier, unit, channel: str, amount_fen: int, when: dt.datetime, reference: str = "",
         payer: str = "张三") -> Payment:
    """Money taken at the counter (kept as prepaid: no bill needed for these figures)."""
    return payment_record(acting_user=cashier, unit=unit, channel=channel, amount_fen=amount_fen,
                          bill_ids=[], idempotency_key=f"t-{cashier.pk}-{when}-{amount_fen}",
                          received_at=when, reference=reference, payer_name=payer)


@pytest.fixture
def day(estate):
    """Cashier A (A1) and cashier B (A2) each take money on DAY; A also on the days around
    it; cashier AB works in both A1 and A2."""
    a1, a2 = estate["a1"], estate["a2"]
    people = {
        "a": t.make_staff(estate["company_a"], Role.CASHIER, [a1], username="cashier_a"),
        "b": t.make_staff(estate["company_a"], Role.CASHIER, [a2], username="cashier_b"),
        "ab": t.make_staff(estate["company_a"], Role.CASHIER, [a1, a2], username="cashier_ab"),
        "manager": t.make_staff(estate["company_a"], Role.MANAGER, [a1], username="manager_a1"),
        "finance": t.make_staff(estate["company_a"], Role.FINANCE, [a1], username="finance_a1"),
    }
    u1, u2 = estate["a1_unit"], estate["a2_unit"]
    a = people["a"]
    taken = [
        take(a, u1, Channel.CASH, 12000, at(DAY, 0, 5)),
        take(a, u1, Channel.POS, 8050, at(DAY, 9, 30), reference="POS-001"),
        take(a, u1, Channel.CASH, 3001, at(DAY, 11, 0), payer="=1+1"),
        take(a, u1, Channel.TRANSFER, 50000, at(DAY, 23, 59), reference="HZ-9"),
        take(a, u1, Channel.CHEQUE, 70000, at(DAY, 15, 0), reference="ZP-12"),
    ]
    take(a, u1, Channel.CASH, 99900, at(DAY - dt.timedelta(days=1), 23, 59))  # the day before
    take(a, u1, Channel.CASH, 88800, at(DAY + dt.timedelta(days=1), 0, 0))  # the day after
    payment_record(acting_user=a, unit=u1, channel=Channel.WECHAT, amount_fen=5500,
                   bill_ids=[], idempotency_key="online", received_at=at(DAY, 12))  # not counter
    other = take(people["b"], u2, Channel.CASH, 4400, at(DAY, 10))
    ab_here = take(people["ab"], u1, Channel.CASH, 1000, at(DAY, 10))
    ab_there = take(people["ab"], u2, Channel.CASH, 2000, at(DAY, 10))
    return {**people, "taken": taken, "b_payment": other, "ab_here": ab_here,
            "ab_there": ab_there}


def query(**params) -> dict:
    return {"day": DAY.isoformat(), **params}


@pytest.mark.django_db
def test_a_cashiers_takings_list_the_days_counter_payments_with_matching_totals(client, day):
    client.force_login(day["a"])
    page = client.get(URL, query())
    assert page.status_code == 200
    taken = day["taken"]
    assert [p.pk for p in page.context["query"].takings.payments] == [
        p.pk for p in sorted(taken, key=lambda p: p.received_at)]
    assert page.context["channels"] == [
        (str(Channel.CASH.label), 2, "¥150.01"), (str(Channel.POS.label), 1, "¥80.50"),
        (str(Channel.TRANSFER.label), 1, "¥500.00"), (str(Channel.CHEQUE.label), 1, "¥700.00")]
    assert page.context["grand_total"] == "¥1,430.51"
    assert sum(p.amount_fen for p in taken) == 143051
    rows = page.context["rows"]
    assert [r[0] for r in rows] == ["00:05", "09:30", "11:00", "15:00", "23:59"]
    assert rows[1][4:] == [str(Channel.POS.label), "¥80.50", "POS-001"]
    by_time = sorted(taken, key=lambda p: p.received_at)
    assert [r[1] for r in rows] == [p.receipt.number for p in by_time]  # receipt numbers
    # By default: my own takings of today.
    today = client.get(URL)
    assert today.status_code == 200 and today.context["query"].day == timezone.localdate()


@pytest.mark.django_db
def test_a_cashier_sees_only_their_own_takings(client, day):
    client.force_login(day["a"])
    assert client.get(URL, query(cashier=day["b"].pk)).status_code == 404
    assert client.get(URL, query(cashier=day["ab"].pk)).status_code == 404
    assert client.get(URL, query(cashier="x")).status_code == 404


@pytest.mark.django_db
def test_a_cashier_of_another_community_cannot_see_its_takings(client, day, estate):
    client.force_login(day["b"])  # works in A2
    assert client.get(URL, query(community=estate["a1"].pk)).status_code == 404
    assert client.get(URL, query(community=estate["b1"].pk)).status_code == 404
    assert client.get(URL, query(cashier=day["a"].pk)).status_code == 404
    for suffix in ("print/", "export.xlsx"):
        assert client.get(URL + suffix, query(cashier=day["a"].pk)).status_code == 404
    own = client.get(URL, query())
    assert [p.pk for p in own.context["query"].takings.payments] == [day["b_payment"].pk]


@pytest.mark.django_db
def test_managers_and_finance_choose_any_cashier_of_their_communities_only(client, day, estate):
    for viewer in (day["manager"], day["finance"]):
        client.force_login(viewer)
        choices = {pk for pk, _label in
                   client.get(URL).context["form"].fields["cashier"].choices}
        assert {day["a"].pk, day["ab"].pk, viewer.pk} <= choices
        assert day["b"].pk not in choices  # a cashier of A2 only
        assert client.get(URL, query(cashier=day["b"].pk)).status_code == 404
        page = client.get(URL, query(cashier=day["a"].pk))
        assert page.status_code == 200 and page.context["grand_total"] == "¥1,430.51"
        # A cashier working in A1 and A2: only what they took in A1.
        both = client.get(URL, query(cashier=day["ab"].pk))
        assert [p.pk for p in both.context["query"].takings.payments] == [day["ab_here"].pk]
        assert client.get(URL, query(community=estate["a2"].pk)).status_code == 404
    service = t.make_staff(estate["company_a"], Role.SERVICE, [estate["a1"]])
    client.force_login(service)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_the_excel_export_opens_and_sums_to_the_grand_total(client, day):
    client.force_login(day["manager"])
    response = client.get(URL + "export.xlsx", query(cashier=day["a"].pk))
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[0] and isinstance(r[5], str))
    body = []
    for r in rows[header + 1:]:
        if r[0] is None:
            break
        body.append(r)
    assert len(body) == 5
    amounts = [Decimal(str(r[5])) for r in body]
    assert sum(amounts) == Decimal("1430.51")
    grand = rows[-1]
    assert Decimal(str(grand[5])) == Decimal("1430.51")
    per_channel = [Decimal(str(r[5])) for r in rows[header + len(body) + 2:-1]]
    assert sum(per_channel) == Decimal("1430.51") and len(per_channel) == 4
    assert "=1+1" in [r[3] for r in body]  # a payer's name stays text, never a formula
    assert isinstance(body[0][0], dt.datetime) and body[0][0].hour == 0


@pytest.mark.django_db
def test_the_print_view_is_a_handover_sheet_with_signature_lines(client, day):
    client.force_login(day["a"])
    page = client.get(URL + "print/", query())
    assert page.status_code == 200
    html = page.content.decode()
    assert "收费员交班表" in html and "收款人" in html and "复核人" in html
    assert "@page" in html and "A4" in html
    assert "¥1,430.51" in html and "cashier_a" in html
    assert "admin/base" not in [t.name for t in page.templates]  # no console chrome on paper


@pytest.mark.django_db
def test_a_day_written_wrong_is_said_and_today_is_shown(client, day):
    client.force_login(day["manager"])
    page = client.get(URL, {"cashier": day["a"].pk, "day": "2026-13-45"})
    assert page.status_code == 200 and page.context["form"].errors["day"]
    assert page.context["query"].day == timezone.localdate()
    assert page.context["query"].cashier == day["a"]
    assert 'type="date"' in page.content.decode()
