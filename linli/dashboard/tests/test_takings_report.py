"""Takings reports: daily and monthly, by channel and by cashier, refunds paid out on their
own lines; every number opens the payments and refunds behind it, and they sum to it;
the Excel export has numbers in yuan, a title, the filters and the definitions."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from linli.counter.selectors import takings as shift_takings
from linli.dashboard import takings as tk

pytestmark = pytest.mark.django_db
URL = "/console/takings/"


def report(client, user, **params):
    client.force_login(user)
    response = client.get(URL, params)
    assert response.status_code == 200
    return response


def linked_cells(response):
    for section in response.context["report"].sections:
        for row in section.rows:
            for cell in row:
                if cell.link:
                    yield section.title, row, cell


def assert_every_figure_drills_down_to_its_sum(client, response) -> int:
    checked = 0
    for title, row, cell in linked_cells(response):
        drilled = client.get(cell.link)
        assert drilled.status_code == 200, cell.link
        if cell.fen is not None:
            assert drilled.context["total_fen"] == cell.fen, (title, row[0].text, cell.link)
            assert sum(line.amount_fen for line in drilled.context["lines"]) == cell.fen
        else:
            assert len(drilled.context["lines"]) == cell.count, (title, row[0].text, cell.link)
        checked += 1
    return checked


def rows_of(response, title) -> list[list[str]]:
    section = next(s for s in response.context["report"].sections if s.title == title)
    return [[c.display for c in row] for row in section.rows]


def test_the_daily_report_by_channel_and_cashier_drills_down_to_its_sums(client, fx):
    page = report(client, fx.world.manager)
    assert rows_of(page, "按渠道")[-2:] == [["现金，退款支出", "1", "-¥30.00"],
                                          ["净额合计", "6", "¥370.00"]]
    by_cashier = rows_of(page, "按收费员")
    assert ["线上收款（无收费员）", "净额合计", "2", "¥150.00"] in by_cashier
    cashier = next(r for r in by_cashier if r[1] == "净额合计" and "¥120.00" in r)
    assert cashier[2] == "3"
    assert "收款日报" in page.content.decode() and "统计口径" in page.content.decode()
    assert assert_every_figure_drills_down_to_its_sum(client, page) >= 20


def test_the_monthly_report_adds_the_days_and_drills_down_too(client, fx):
    today = timezone.localdate()
    page = report(client, fx.world.finance, period="month", month=f"{today:%Y-%m}")
    days = rows_of(page, "按日")
    assert days == [[today.isoformat(), "¥400.00", "-¥30.00", "¥0.00", "¥370.00"]]
    assert assert_every_figure_drills_down_to_its_sum(client, page) >= 20
    last = tk.month_first(today, -1)
    previous = report(client, fx.world.finance, period="month", month=f"{last:%Y-%m}")
    assert rows_of(previous, "按渠道") == [["微信支付", "1", "¥100.00"],
                                        ["净额合计", "1", "¥100.00"]]
    assert assert_every_figure_drills_down_to_its_sum(client, previous) >= 4


def test_a_cashier_report_is_their_shift_and_equals_the_handover_sheet(client, fx):
    w = fx.world
    page = report(client, w.cashier)
    assert rows_of(page, "按渠道") == [["现金", "1", "¥100.00"], ["银行转账", "1", "¥50.00"],
                                    ["现金，退款支出", "1", "-¥30.00"],
                                    ["净额合计", "3", "¥120.00"]]
    sheet = shift_takings([w.community.pk], cashier_id=w.cashier.pk, day=timezone.localdate())
    mine = tk.takings(tk.day_window([w.community.pk], timezone.localdate(),
                                    cashier_id=w.cashier.pk))
    for channel, _label, _count, net in sheet.by_channel:
        assert mine.total(channel=channel, every=True).amount_fen == net
    assert sheet.total_fen == mine.total(every=True).amount_fen
    # Another cashier's records are not theirs to open.
    other = client.get(URL + "rows/", {"from": timezone.localdate().isoformat(),
                                       "to": timezone.localdate().isoformat(),
                                       "cashier": fx.cashier2.pk})
    assert other.status_code == 404


def test_staff_of_another_community_see_nothing_of_it(client, fx):
    page = report(client, fx.other_manager)
    assert rows_of(page, "按渠道") == [["净额合计", "0", "¥0.00"]]
    day = timezone.localdate().isoformat()
    assert client.get(URL, {"community": fx.community.pk}).status_code == 404
    assert client.get(URL + "rows/", {"from": day, "to": day,
                                      "community": fx.community.pk}).status_code == 404
    everything = client.get(URL + "rows/", {"from": day, "to": day})
    assert everything.context["lines"] == [] and everything.context["total_fen"] == 0


def test_bad_input_is_said_on_the_page_never_a_server_error(client, fx):
    page = report(client, fx.world.manager, period="month", month="2026-13")
    assert "月份请写成 YYYY-MM" in page.content.decode()
    for params in ({"from": "2026-02-01", "to": "2026-01-01"}, {"from": "x", "to": "y"},
                   {"from": "2026-01-01", "to": "2026-01-02", "channel": "bitcoin"},
                   {"from": "2026-01-01", "to": "2026-01-02", "cashier": "abc"}):
        drilled = client.get(URL + "rows/", params)
        assert drilled.status_code == 200 and drilled.context["lines"] == []
        assert "此链接无效" in drilled.content.decode()


def test_the_export_has_numeric_yuan_cells_title_filters_and_definitions(client, fx):
    client.force_login(fx.world.manager)
    response = client.get(URL + "export.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "收款日报"
    assert ("期间", timezone.localdate().isoformat()) == rows[2][:2]
    channel_start = next(i for i, r in enumerate(rows) if r[0] == "按渠道") + 2
    lines = []
    for r in rows[channel_start:]:
        if r[0] is None:
            break
        lines.append(r)
    assert lines[-1][0] == "净额合计" and Decimal(str(lines[-1][2])) == Decimal("370.00")
    assert sum(Decimal(str(r[2])) for r in lines[:-1]) == Decimal("370.00")
    amount_cells = [row[2] for row in sheet.iter_rows(min_row=channel_start + 1,
                                                       max_row=channel_start + len(lines))]
    assert all(c.data_type == "n" and c.number_format == "#,##0.00" for c in amount_cells)
    assert "统计口径" in book.sheetnames
    assert any("净额" in (r[0] or "") for r in book["统计口径"].iter_rows(values_only=True))


def test_customer_service_may_not_open_the_takings(client, fx):
    client.force_login(fx.service)
    day = timezone.localdate().isoformat()
    for url in (URL, URL + "export.xlsx", f"{URL}rows/?from={day}&to={day}"):
        assert client.get(url).status_code == 403, url
