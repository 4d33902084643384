"""Meter readings (抄表): the rules, review before billing, the Excel import, the pages."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

import linli.billing.admin_meters  # noqa: F401  (registers the pages before the URLconf loads)
from linli import testing as t
from linli.billing.models import (
    Bill,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    MeterReading,
    StandardRate,
)
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.billing.services.meters import meter_ensure, reading_record, reading_review
from linli.billing.services.meters_import import (
    SPEC,
    readings_import,
    readings_import_template,
)
from linli.core import xlsx
from linli.core.models import AuditEvent
from linli.core.xlsx import ImportRefused
from linli.estate.models import Unit
from linli.staff.models import Role

TODAY = dt.date(2026, 11, 20)
D = Decimal
Status = MeterReading.Status
HEADER = ["楼栋", "单元", "房号", "表类型", "月份", "本期读数", "是否换表", "新表起始读数", "抄表日期"]
XLSX = xlsx.XLSX_CONTENT_TYPE


def grant(user: User, *codenames: str) -> User:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
    )
    return User.objects.get(pk=user.pk)  # a fresh object: no stale permission cache


@pytest.fixture
def manager(estate):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    return grant(user, "add_meterreading", "change_meterreading", "view_meterreading",
                 "view_meter", "add_meter")


@pytest.fixture
def water(estate, manager):
    return meter_ensure(acting_user=manager, unit=estate["a1_unit"], kind=Meter.Kind.WATER)


def record(user, meter, month, value, **kwargs) -> MeterReading:
    return reading_record(acting_user=user, meter=meter, period_key=month, value=D(value),
                          today=TODAY, **kwargs)


def normal_history(user, meter) -> None:
    """A baseline in June, then about 11 t a month."""
    for month, value in [("2026-06", "100"), ("2026-07", "112"), ("2026-08", "122"),
                         ("2026-09", "133")]:
        record(user, meter, month, value)


def refusal(error: ValidationError) -> dict[str, list[str]]:
    return error.value.message_dict


def setup_water_fee(community, price="3.50") -> FeeItem:
    item = FeeItem.objects.create(community=community, name="水费", category=FeeItem.Category.WATER)
    standard = ChargeStandard.objects.create(
        fee_item=item, name="居民用水", method=ChargeStandard.Method.METERED,
        meter_kind=Meter.Kind.WATER, timing=ChargeStandard.Timing.ARREARS,
        due_days=60,  # billed after the month, due at the end of the next
    )
    StandardRate.objects.create(standard=standard, effective_from=dt.date(2024, 1, 1),
                                unit_price=D(price))
    Binding.objects.create(standard=standard, scope=Binding.Scope.COMMUNITY,
                           start_date=dt.date(2024, 1, 1))
    return item


# --- the rules ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_usage_is_value_minus_previous_and_first_reading_is_a_baseline(manager, water):
    first = record(manager, water, "2026-06", "100")
    assert (first.previous_value, first.usage, first.status) == (None, 0, Status.OK)
    second = record(manager, water, "2026-07", "112.5")
    assert (second.previous_value, second.usage, second.status) == (D(100), D("12.5"), Status.OK)
    assert second.entered_by == manager


@pytest.mark.django_db
def test_first_reading_with_a_start_value_counts_from_it(estate, manager):
    gas = meter_ensure(acting_user=manager, unit=estate["a1_unit"], kind=Meter.Kind.GAS)
    reading = record(manager, gas, "2026-10", "12", start_value=D("3"))
    assert (reading.previous_value, reading.usage, reading.status) == (None, D(9), Status.OK)


@pytest.mark.django_db
def test_a_reading_lower_than_the_previous_one_is_refused(manager, water):
    normal_history(manager, water)
    with translation.override("en"), pytest.raises(ValidationError) as error:
        record(manager, water, "2026-10", "120")
    assert refusal(error) == {"value": [
        "The reading 120 is lower than the previous reading 133 (2026-09). If the meter was "
        "replaced, mark it as replaced and give the new meter's start reading."
    ]}
    assert not MeterReading.objects.filter(period_key="2026-10").exists()


@pytest.mark.django_db
def test_a_lower_reading_of_a_replaced_meter_counts_from_the_new_start(manager, water):
    normal_history(manager, water)
    with translation.override("en"), pytest.raises(ValidationError) as error:
        record(manager, water, "2026-10", "8", replaced=True)
    assert refusal(error) == {"start_value": ["Give the new meter's start reading."]}
    reading = record(manager, water, "2026-10", "8", replaced=True, start_value=D("0.5"))
    assert (reading.previous_value, reading.usage, reading.status) == (D(133), D("7.5"), Status.OK)
    # The next month counts from the new meter's reading.
    assert record(manager, water, "2026-11", "19").usage == D(11)


@pytest.mark.django_db
def test_readings_go_in_month_order_and_not_into_the_future(manager, water):
    normal_history(manager, water)
    with translation.override("en"), pytest.raises(ValidationError) as error:
        record(manager, water, "2026-05", "90")
    assert refusal(error) == {"period_key": [
        "This meter already has a reading for 2026-09; readings are recorded month by month, "
        "in order."
    ]}
    with translation.override("en"), pytest.raises(ValidationError) as error:
        record(manager, water, "2026-12", "150")
    assert refusal(error) == {"period_key": ["2026-12 has not begun yet."]}


@pytest.mark.django_db
def test_a_jump_far_above_the_usual_usage_is_flagged(manager, water):
    normal_history(manager, water)  # usual: median(12, 10, 11) = 11
    assert record(manager, water, "2026-10", "165").status == Status.OK  # 32 ≤ 3 × 11
    reading = record(manager, water, "2026-11", "205")  # 40 > max(3 × 11.5, 11.5 + 10)
    assert (reading.usage, reading.status) == (D(40), Status.FLAGGED)
    assert "40" in reading.flag_reason and "11.5" in reading.flag_reason


@pytest.mark.django_db
def test_small_usages_need_a_real_jump_and_new_meters_a_plausible_one(estate, manager, water):
    for month, value in [("2026-07", "0"), ("2026-08", "1"), ("2026-09", "2")]:
        record(manager, water, month, value)
    assert record(manager, water, "2026-10", "12").status == Status.OK  # 10 ≤ 1 + 10
    gas = meter_ensure(acting_user=manager, unit=estate["a1_unit"], kind=Meter.Kind.GAS)
    assert record(manager, gas, "2026-10", "301", start_value=D(0)).status == Status.FLAGGED


@pytest.mark.django_db
def test_bills_due_before_they_are_issued_are_pointed_out(estate, manager, water):
    community = estate["a1"]
    setup_water_fee(community)
    normal_history(manager, water)
    record(manager, water, "2026-10", "144")
    # Billed after October, due 30 days after October began: overdue on the day it is issued.
    ChargeStandard.objects.update(due_days=30)
    preview = bill_run_preview(community_id=community.pk, period_key="2026-10", today=TODAY)
    assert preview.bill_count == 1  # said, not refused
    assert [(w["code"], w["count"], w["examples"]) for w in preview.warnings] == [
        ("past_due", 1, ["水费 · 居民用水 → 2026-10-31"])]
    assert preview.warnings[0]["message"] == "开具时已过到期日的收费标准（请检查到期规则）"
    # Looked at on the day it falls due, it is not past due yet.
    on_the_day = bill_run_preview(community_id=community.pk, period_key="2026-10",
                                  today=dt.date(2026, 10, 31))
    assert on_the_day.warnings == []
    # The rule for fees billed in arrears: N days after the period ends.
    ChargeStandard.objects.update(due_rule=ChargeStandard.DueRule.DAYS_AFTER_END, due_days=15)
    preview = bill_run_preview(community_id=community.pk, period_key="2026-10",
                               today=dt.date(2026, 11, 2))
    assert preview.warnings == []
    assert [b.due_date for b in preview.sample] == [dt.date(2026, 11, 15)]


@pytest.mark.django_db
def test_flagged_reading_is_not_billed_until_approved(estate, manager, water):
    community = estate["a1"]
    setup_water_fee(community)
    normal_history(manager, water)
    jump = record(manager, water, "2026-10", "300")  # 167 t against a usual 11 t
    assert jump.status == Status.FLAGGED

    preview = bill_run_preview(community_id=community.pk, period_key="2026-10", today=TODAY)
    assert preview.bill_count == 0
    assert [(w["code"], w["count"]) for w in preview.warnings] == [("reading_review", 1)]

    reading_review(acting_user=manager, reading=jump, approve=True, note="漏水，已核实")
    preview = bill_run_preview(community_id=community.pk, period_key="2026-10", today=TODAY)
    assert (preview.bill_count, preview.total_fen, preview.warnings) == (1, 167 * 350, [])
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACTION, object_id=str(jump.pk))
    assert event.changes == {"status": ["flagged", "approved"]}

    bill_run_commit(acting_user=manager, community_id=community.pk, period_key="2026-10",
                    today=TODAY)
    assert Bill.objects.get().reading == jump
    # A billed reading never changes.
    with translation.override("en"), pytest.raises(ValidationError) as error:
        record(manager, water, "2026-10", "150")
    assert refusal(error) == {"period_key": [
        "The reading of 2026-10 has been billed and cannot change."
    ]}


@pytest.mark.django_db
def test_rejected_reading_is_never_billed_and_can_be_corrected(estate, manager, water):
    setup_water_fee(estate["a1"])
    normal_history(manager, water)
    with pytest.raises(ValidationError):  # only flagged readings are reviewed
        reading_review(acting_user=manager, reading=MeterReading.objects.get(period_key="2026-09"),
                       approve=False)
    jump = record(manager, water, "2026-10", "1330")
    reading_review(acting_user=manager, reading=jump, approve=False, note="多录了一位")
    assert MeterReading.objects.get(pk=jump.pk).status == Status.REJECTED
    preview = bill_run_preview(community_id=estate["a1"].pk, period_key="2026-10", today=TODAY)
    assert preview.bill_count == 0

    corrected = record(manager, water, "2026-10", "143")
    assert (corrected.pk, corrected.usage, corrected.status) == (jump.pk, D(10), Status.OK)
    assert bill_run_preview(community_id=estate["a1"].pk, period_key="2026-10",
                            today=TODAY).bill_count == 1


@pytest.mark.django_db
def test_unbilled_correction_is_in_place_and_audited_before_and_after(manager, water):
    normal_history(manager, water)
    reading = record(manager, water, "2026-10", "300")
    corrected = record(manager, water, "2026-10", "145", read_on=dt.date(2026, 10, 31))
    assert (corrected.pk, corrected.usage, corrected.status, corrected.flag_reason) == (
        reading.pk, D(12), Status.OK, ""
    )
    event = AuditEvent.objects.filter(object_id=str(reading.pk)).latest("id")
    assert event.action == AuditEvent.Action.CHANGE
    assert event.changes["value"] == ["300.0000", "145.0000"]
    assert event.changes["status"] == ["flagged", "ok"]
    events = AuditEvent.objects.count()
    record(manager, water, "2026-10", "145")  # the same again: nothing to change
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_flag_reason_is_written_in_chinese(manager, water):
    normal_history(manager, water)
    reading = record(manager, water, "2026-10", "300")
    assert reading.flag_reason == (
        "用量 167 吨，远高于平时的 11 吨（近 3 个月中位数），请核实后再计费。"
    )


# --- the Excel import ---------------------------------------------------------------------
def workbook(rows: list[list], header=HEADER, sheet="抄表") -> bytes:
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in [header, *rows]:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(data: bytes, name: str = "readings.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=XLSX)


def place(unit) -> list[str]:
    return [unit.building.name, unit.entrance, unit.room_no]


def run_import(user, community, data: bytes):
    return readings_import(acting_user=user, community=community, file=upload(data), today=TODAY)


def stored() -> list[tuple]:
    return list(MeterReading.objects.order_by("id").values_list(
        "id", "meter_id", "period_key", "value", "usage", "status", "read_on"
    ))


@pytest.mark.django_db
def test_import_writes_nothing_and_lists_every_bad_row(estate, manager, water):
    community, unit = estate["a1"], estate["a1_unit"]
    other = t.make_unit(community)
    normal_history(manager, water)
    other_water = meter_ensure(acting_user=manager, unit=other, kind=Meter.Kind.WATER)
    record(manager, other_water, "2026-09", "50")
    before, meters = stored(), Meter.objects.count()

    result = run_import(manager, community, workbook([
        [*place(unit), "水", "2026-10", 140, "否", None, dt.date(2026, 10, 30)],
        [unit.building.name, unit.entrance, "9999", "水", "2026-10", 10, None, None, None],
        [*place(unit), "电", "2026-13", 10, None, None, None],
        [*place(other), "water", "2026-10", 40, None, None, None],
        [*place(other), "电", "2026-10", 300, None, None, None],
    ]))

    assert [(e.sheet, e.row_number, e.column) for e in result.errors] == [
        ("抄表", 3, "房号"), ("抄表", 4, "月份"), ("抄表", 5, "本期读数"),
    ]
    assert not result.ok and result.counts is None
    assert (stored(), Meter.objects.count()) == (before, meters)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT).exists()


@pytest.mark.django_db
def test_import_error_messages_say_what_is_wrong(estate, manager, water):
    unit = estate["a1_unit"]
    normal_history(manager, water)
    with translation.override("en"):
        result = run_import(manager, estate["a1"], workbook([
            [*place(unit), "汽", "2026-10", 140, None, None, None],
            [*place(unit), "水", "2026-10", 120, None, None, None],
            [*place(unit), "水", "Oct", "12.34567", "也许", None, None],
        ]))
    assert [(e.row_number, e.column, e.message) for e in result.errors] == [
        (2, "表类型", "Write one of: 水、电、燃气."),
        (3, "本期读数", "The reading 120 is lower than the previous reading 133 (2026-09). If "
                    "the meter was replaced, mark it as replaced and give the new meter's "
                    "start reading."),
        (4, "月份", "Write the month as YYYY-MM, e.g. 2026-11."),
        (4, "本期读数", "Write the reading as a number with at most 4 decimal places, e.g. 1234.5."),
        (4, "是否换表", "Write 是 (yes) or 否 (no)."),
    ]


@pytest.mark.django_db
def test_importing_the_same_file_twice_creates_and_changes_nothing(estate, manager):
    community, unit = estate["a1"], estate["a1_unit"]
    other = t.make_unit(community, entrance="")
    data = workbook([
        [*place(unit), "水", dt.datetime(2026, 9, 1), 100, None, None, None],  # Excel's date
        [*place(unit), "水", "2026-10", "111.5", "否", None, "2026-10-30"],
        [*place(other), "电", "2026-10", 80, None, 20, None],
        [*place(other), "水", "2026-10", 900, None, 0, None],  # new meter, implausible
    ])
    first = run_import(manager, community, data)
    assert first.ok, first.errors
    assert vars(first.counts) == {"meters_created": 3, "created": 4, "corrected": 0,
                                  "unchanged": 0, "flagged": 1}
    readings = {(r.meter.unit_id, r.meter.kind, r.period_key): r
                for r in MeterReading.objects.select_related("meter")}
    assert readings[(unit.pk, "water", "2026-10")].usage == D("11.5")
    assert readings[(unit.pk, "water", "2026-10")].entered_by == manager
    assert readings[(other.pk, "electricity", "2026-10")].usage == D(60)
    assert readings[(other.pk, "water", "2026-10")].status == Status.FLAGGED
    before, meters = stored(), Meter.objects.count()

    second = run_import(manager, community, data)
    assert vars(second.counts) == {"meters_created": 0, "created": 0, "corrected": 0,
                                   "unchanged": 4, "flagged": 0}
    assert (stored(), Meter.objects.count()) == (before, meters)


@pytest.mark.django_db
def test_import_corrects_an_unbilled_month_and_audits_it(estate, manager, water):
    normal_history(manager, water)
    unit = estate["a1_unit"]
    run_import(manager, estate["a1"], workbook([[*place(unit), "水", "2026-10", 145]]))
    result = run_import(manager, estate["a1"], workbook([[*place(unit), "水", "2026-10", 146]]))
    assert (result.counts.corrected, result.counts.created) == (1, 0)
    reading = MeterReading.objects.get(period_key="2026-10")
    assert reading.usage == D(13)
    change = AuditEvent.objects.get(action=AuditEvent.Action.CHANGE, object_id=str(reading.pk))
    assert change.changes["value"] == ["145.0000", "146.0000"]


@pytest.mark.django_db
def test_import_refuses_what_is_not_an_xlsx_and_other_communities(estate, manager):
    with pytest.raises(ImportRefused):
        run_import(manager, estate["a1"], b"name,value\n1,2\n")
    with pytest.raises(PermissionDenied):
        run_import(manager, estate["a2"], workbook([]))


def test_template_has_the_columns_the_import_reads():
    raw = xlsx.read_sheets(readings_import_template(), ("抄表",))
    assert [h for h in raw["抄表"].header if h] == HEADER
    rows, errors = xlsx.parse_sheet(SPEC, raw["抄表"])
    assert errors == [] and [r.errors for r in rows] == [[]]
    assert rows[0].values["period_key"] == "2026-11"


# --- the pages ------------------------------------------------------------------------------
IMPORT_URL = "billing:meter-readings-import"


@pytest.mark.django_db
def test_import_page_is_scoped_and_needs_the_permission(client, estate, manager):
    client.force_login(manager)
    page = client.get(reverse(IMPORT_URL))
    assert page.status_code == 200
    assert list(page.context["form"].fields["community"].queryset) == [estate["a1"]]
    for other in ("a2", "b1"):
        response = client.post(reverse(IMPORT_URL), {
            "community": estate[other].pk, "file": upload(workbook([])),
        })
        assert response.status_code == 404
    template = client.get(reverse("billing:meter-readings-import-template"))
    assert (template.status_code, template["Content-Type"]) == (200, XLSX)

    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]])
    client.force_login(cashier)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert client.get(reverse("billing:meter-readings-import-template")).status_code == 403


@pytest.mark.django_db
def test_import_page_shows_the_counts_or_the_error_table(client, estate, manager):
    client.force_login(manager)
    unit = estate["a1_unit"]
    bad = client.post(reverse(IMPORT_URL), {"community": estate["a1"].pk, "file": upload(
        workbook([[*place(unit), "水", "2026-13", 1], [*place(unit), "水", "2026-10", -1]])
    )})
    assert bad.status_code == 200
    assert [row[:3] for row in bad.context["errors_table"]["rows"]] == [
        ["抄表", 2, "月份"], ["抄表", 3, "本期读数"],
    ]
    assert b'id="import-errors"' in bad.content and MeterReading.objects.count() == 0
    # In Chinese, every word of the page (the shared import page's too).
    assert bad.context["errors_table"]["headers"] == ["工作表", "行", "列", "原因"]
    assert bad.context["submit_label"] == "导入"
    assert bad.context["form"]["community"].label == "小区"

    good = client.post(reverse(IMPORT_URL), {"community": estate["a1"].pk, "file": upload(
        workbook([[*place(unit), "水", "2026-10", 5]])
    )})
    assert good.context["counts_table"]["rows"] == [[1, 0, 0, 0, 1]]
    assert b'id="import-done"' in good.content and good.context["done_title"] == "导入成功"

    refused = client.post(reverse(IMPORT_URL), {
        "community": estate["a1"].pk, "file": upload(b"\xd0\xcf\x11\xe0 old", "old.xls"),
    })
    assert refused.context["form"].errors["file"]


@pytest.mark.django_db
def test_console_add_form_goes_through_the_rules(client, manager, water):
    normal_history(manager, water)
    client.force_login(manager)
    url = reverse("admin:billing_meterreading_add")
    form = {"meter": water.pk, "period_key": "2026-10", "value": "120", "start_value": "",
            "read_on": ""}
    with translation.override("en"):
        refused = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 200
    assert "value" in refused.context["adminform"].form.errors
    assert not MeterReading.objects.filter(period_key="2026-10").exists()

    saved = client.post(url, {**form, "value": "300"})
    assert saved.status_code == 302
    reading = MeterReading.objects.get(period_key="2026-10")
    assert (reading.usage, reading.status, reading.entered_by) == (D(167), Status.FLAGGED, manager)
    assert AuditEvent.objects.filter(object_id=str(reading.pk)).count() == 1  # the service's


@pytest.mark.django_db
def test_console_lists_flagged_first_and_approves_them(client, manager, water):
    normal_history(manager, water)
    jump = record(manager, water, "2026-10", "300")
    client.force_login(manager)
    url = reverse("admin:billing_meterreading_changelist")
    listing = client.get(url)
    assert listing.status_code == 200
    assert listing.context["cl"].result_list[0] == jump
    done = client.post(url, {"action": "approve_readings", "_selected_action": [jump.pk]})
    assert done.status_code == 302
    assert MeterReading.objects.get(pk=jump.pk).status == Status.APPROVED


@pytest.mark.django_db
def test_console_billed_reading_is_read_only_and_other_communities_404(
    client, estate, manager, water
):
    setup_water_fee(estate["a1"])
    normal_history(manager, water)
    bill_run_commit(acting_user=manager, community_id=estate["a1"].pk, period_key="2026-09",
                    today=TODAY)
    billed = MeterReading.objects.get(period_key="2026-09")
    assert Bill.objects.get().reading == billed
    client.force_login(manager)
    url = reverse("admin:billing_meterreading_change", args=[billed.pk])
    assert client.get(url).context["has_change_permission"] is False
    assert client.post(url, {"value": "200"}).status_code == 403

    b1_meter = meter_ensure(acting_user=None, unit=estate["b1_unit"], kind=Meter.Kind.WATER)
    b1_reading = record(None, b1_meter, "2026-10", "5")
    other = reverse("admin:billing_meterreading_change", args=[b1_reading.pk])
    assert client.get(other).status_code == 404


@pytest.mark.django_db
def test_console_change_form_corrects_an_unbilled_reading(client, manager, water):
    normal_history(manager, water)
    jump = record(manager, water, "2026-10", "300")
    client.force_login(manager)
    url = reverse("admin:billing_meterreading_change", args=[jump.pk])
    saved = client.post(url, {"value": "146", "start_value": "", "read_on": "2026-10-31"})
    assert saved.status_code == 302
    reading = MeterReading.objects.get(pk=jump.pk)
    assert (reading.usage, reading.status, reading.read_on) == (
        D(13), Status.OK, dt.date(2026, 10, 31)
    )
    change = AuditEvent.objects.get(action=AuditEvent.Action.CHANGE, object_id=str(jump.pk))
    assert change.actor == manager and change.changes["value"] == ["300.0000", "146.0000"]


@pytest.mark.django_db
def test_water_read_off_the_meter_is_billed_whole_even_for_a_part_month(estate, manager, water):
    """A unit delivered on 16 October, vacant, whose binding also starts mid-month, used
    11 t: it pays for 11 t — the reading already covers only its days."""
    community = estate["a1"]
    item = setup_water_fee(community)
    Binding.objects.filter(standard__fee_item=item).update(start_date=dt.date(2026, 10, 10))
    ChargeStandard.objects.filter(fee_item=item).update(vacancy_percent=D(50))
    Unit.objects.filter(pk=estate["a1_unit"].pk).update(
        delivered_on=dt.date(2026, 10, 16), status=Unit.Status.VACANT)
    record(manager, water, "2026-09", "100")
    record(manager, water, "2026-10", "111")
    preview = bill_run_preview(community_id=community.pk, period_key="2026-10", today=TODAY)
    assert (preview.bill_count, preview.total_fen) == (1, 11 * 350)
    bill_run_commit(acting_user=manager, community_id=community.pk, period_key="2026-10",
                    today=TODAY)
    bill = Bill.objects.get()
    assert (bill.amount_fen, bill.quantity) == (3850, D("11"))
    assert "proration" not in bill.detail and "vacancy_percent" not in bill.detail


@pytest.mark.django_db
def test_the_scheduled_run_bills_water_for_the_month_read(estate, manager, water):
    """On its day the scheduled run bills the property fee for this month and water, billed
    in arrears, for last month — whose reading is in."""
    from huey.contrib.djhuey import HUEY

    from linli.billing import tasks
    from linli.billing.models import BillingSettings, BillRun

    community = estate["a1"]
    water_item = setup_water_fee(community)
    rubbish = FeeItem.objects.create(community=community, name="垃圾费", category="other")
    standard = ChargeStandard.objects.create(fee_item=rubbish, name="每户",
                                             method=ChargeStandard.Method.FIXED_UNIT)
    StandardRate.objects.create(standard=standard, effective_from=dt.date(2024, 1, 1),
                                unit_price=D("15"))
    Binding.objects.create(standard=standard, scope=Binding.Scope.COMMUNITY,
                           start_date=dt.date(2024, 1, 1))
    BillingSettings.objects.create(community=community, scheduled_runs=True, bill_run_day=5)
    record(manager, water, "2026-09", "100")
    record(manager, water, "2026-10", "111")
    HUEY.immediate = True
    try:
        assert tasks.queue_due_bill_runs(dt.date(2026, 11, 5)) == [community.pk]
    finally:
        HUEY.immediate = False
    runs = {run.period_key: run for run in BillRun.objects.all()}
    assert set(runs) == {"2026-10", "2026-11"}
    assert runs["2026-10"].warnings == []  # no "missing reading" for a month not yet read
    water_bill = Bill.objects.get(fee_item=water_item)
    assert (water_bill.period_key, water_bill.amount_fen) == ("2026-10", 11 * 350)
    assert set(Bill.objects.filter(fee_item=rubbish).values_list("period_key", flat=True)) == {
        "2026-11"}
