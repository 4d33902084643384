"""The report pages: scoped to the staff member's communities, every figure links to
the records that add up to it, every page exports numbers to Excel with its filters and
definitions, and bad filters are refused without a server error."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest
from django.conf import settings

from linli import testing as t
from linli.money import format_fen
from linli.reports.tests.fixture import build
from linli.staff.models import Role

pytestmark = pytest.mark.django_db

URL = "/console/reports/"
JAN = {"period": "2026-01", "as_of": "2026-01-31"}


@pytest.fixture
def estate():
    return build()


def signed_in(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_every_figure_opens_to_records_that_add_up_to_it(estate, client):
    signed_in(client, estate.manager)
    for by in ("fee_item", "building", "month"):
        page = client.get(URL, {**JAN, "by": by})
        assert page.status_code == 200
        links = 0
        for row in page.context["table"]:
            for cell in row["cells"]:
                if not cell.get("link"):
                    continue
                drilled = client.get(cell["link"])
                assert drilled.status_code == 200, cell["link"]
                found = drilled.context["drill"]
                assert format_fen(found.total_fen) == cell["text"], (by, row["label"], cell)
                for section in found.sections:     # every row is listed (small fixture)
                    assert sum(r.amount_fen for r in section.rows) == section.total_fen
                links += 1
        assert links >= 7


def test_the_collection_page_shows_the_hand_computed_figures(estate, client):
    signed_in(client, estate.manager)
    page = client.get(URL, {**JAN, "by": "company"})
    [row] = page.context["table"]
    texts = [c["text"] for c in row["cells"]]
    assert texts[:3] == ["¥430.00", "¥214.52", "49.89%"]
    assert "33.33% (1/3)" in texts
    assert "Collected ÷ charged" in page.content.decode()     # the definitions are beside


def test_the_export_has_numbers_filters_and_definitions(estate, client):
    signed_in(client, estate.finance)
    response = client.get(URL, {**JAN, "by": "fee_item", "export": "xlsx"})
    assert response.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet, definitions = wb.worksheets
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Collection rate"
    assert ("Billing period (month)", "2026-01") in [r[:2] for r in rows]
    header = rows.index(next(r for r in rows if r[0] == "Rows"))
    data = rows[header + 1:]
    by_item = {r[0]: r for r in data}
    assert by_item["物业费"][1] == 300 and by_item["车位费"][1] == 130
    charged = sum(r[1] for r in data)
    assert charged == 430                       # numbers that sum: 430.00 yuan
    cell = sheet.cell(row=header + 2, column=2)
    assert cell.number_format == "0.00" and isinstance(cell.value, int | float)
    assert sheet.cell(row=header + 2, column=4).number_format == "0.00%"
    names = [r[0] for r in definitions.iter_rows(values_only=True)]
    assert "Collection rate (当期收缴率)" in names and "Charged (应收)" in names


def test_arrears_list_owners_and_phones_masked_for_finance(estate, client):
    signed_in(client, estate.service)
    page = client.get(URL + "arrears/", {"as_of": "2026-02-10", "period": "2026-02"})
    rows = page.context["rows"]
    assert [(r["owner"], r["total"]) for r in rows] == [
        ("业主U2", 28000), ("业主U3", 20000), ("业主U1", 15000)]
    assert rows[0]["phone"].isdigit() and len(rows[0]["phone"]) == 11
    # PIPL: the whole numbers shown are accounted for in the audit log.
    from linli.core.models import AuditEvent
    seen = AuditEvent.objects.filter(summary="Viewed 3 full mobile numbers: arrears report")
    assert seen.count() == 1 and seen.get().actor == estate.service
    assert rows[0]["buckets"] == [15000, 3000, 10000, 0, 0, 0, 0]
    drilled = client.get(rows[0]["total_link"]).context["drill"]
    assert drilled.total_fen == 28000
    drilled = client.get(rows[0]["cells"][2]["link"]).context["drill"]
    assert drilled.total_fen == 10000
    signed_in(client, estate.finance)
    page = client.get(URL + "arrears/", {"as_of": "2026-02-10", "period": "2026-02"})
    assert "****" in page.context["rows"][0]["phone"]
    assert not AuditEvent.objects.filter(actor=estate.finance, summary__contains="full mobile").exists()
    export = client.get(URL + "arrears/", {"as_of": "2026-02-10", "period": "2026-02",
                                           "export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(export.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    u2 = next(r for r in values if r and r[2] == "业主U2")
    assert u2[4:11] == (150, 30, 100, 0, 0, 0, 0) and u2[11] == 280
    assert "****" in u2[3]


def test_the_summary_is_per_building_and_fee_item(estate, client):
    signed_in(client, estate.manager)
    page = client.get(URL + "summary/", JAN)
    labels = [row["label"] for row in page.context["table"]]
    name = estate.community.name
    assert labels == [f"{name} 1栋 · 物业费", f"{name} 1栋 · 车位费", f"{name} 2栋 · 物业费",
                      f"{name} 2栋 · 车位费"]


def test_other_communities_see_nothing_and_cannot_ask(estate, client):
    company = t.make_company("别家物业")
    other = t.make_staff(company, Role.MANAGER, [t.make_community(company, "别的小区")])
    from linli.payments.tests.helpers import grant

    grant(other, "billing.view_bill")
    signed_in(client, other)
    page = client.get(URL, {**JAN, "by": "community"})
    assert page.status_code == 200 and page.context["table"] == []
    page = client.get(URL, {**JAN, "community": estate.community.pk})
    assert page.context["form"].errors and page.context["table"] == []
    drilled = client.get(URL + "drill/", {**JAN, "figure": "charged"})
    assert drilled.context["drill"].total_fen == 0
    refused = client.get(URL + "drill/", {**JAN, "figure": "charged",
                                          "community": estate.community.pk})
    assert refused.status_code == 400


def test_bad_filters_are_refused_in_words(estate, client):
    signed_in(client, estate.manager)
    page = client.get(URL, {"period": "2026-13", "as_of": "yesterday"})
    assert page.status_code == 200
    assert "Enter a month as YYYY-MM" in page.content.decode()
    assert client.get(URL + "drill/", {"figure": "everything"}).status_code == 400
    link = urlparse(client.get(URL, {**JAN, "by": "company"}).context["table"][0]["cells"][0]
                    ["link"])
    assert parse_qs(link.query)["figure"] == ["charged"]


def test_the_overdue_bill_list_exports_amounts_as_numbers_with_payers(estate, client):
    from linli.billing.models import Bill

    signed_in(client, estate.finance)
    ids = list(Bill.objects.filter(unit=estate.units["U3"]).values_list("pk", flat=True))
    response = client.post("/console/billing/bill/?overdue=yes", {
        "action": "export_xlsx", "_selected_action": ids, "index": 0})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    owed, payer, phone = header.index("owed"), header.index("Payer"), header.index("Phone")
    owing = [r for r in rows[1:] if r[owed]]
    # U3 owes December's parking and January's bills (March is paid in advance)
    assert sorted(r[owed] for r in owing) == [50, 50, 100]
    assert sum(r[owed] for r in rows[1:]) == 200
    assert {r[payer] for r in rows[1:]} == {"业主U3"}
    assert all("****" in r[phone] for r in rows[1:])       # finance: masked
    assert sheet.cell(row=2, column=owed + 1).number_format == "0.00"
