"""Excel import of the estate: all or nothing, every bad row reported, idempotent."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from linli import testing as t
from linli.core import xlsx
from linli.core.models import AuditEvent
from linli.estate import imports
from linli.estate.imports import ImportRefused, estate_import, estate_import_template
from linli.estate.models import Building, Occupancy, Person, Unit, id_number_index
from linli.staff.models import Role

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BUILDING_HEADER = ["楼栋名称", "地上层数"]
UNIT_HEADER = [
    "楼栋名称",
    "单元",
    "楼层",
    "房号",
    "建筑面积",
    "套内面积",
    "类型",
    "状态",
    "交付日期",
]
PERSON_HEADER = ["姓名", "手机号", "身份证号", "备注"]
OCCUPANCY_HEADER = [
    "楼栋名称",
    "单元",
    "房号",
    "姓名",
    "手机号",
    "身份证号",
    "身份",
    "开始日期",
    "结束日期",
    "是否缴费人",
]
LI_SI_ID = t.make_id_number("19800101", seq=11)


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(data: bytes, name: str = "estate.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=XLSX)


def good_sheets(existing_person: Person) -> dict[str, list[list]]:
    """Two buildings, three units, two people and three occupancies; one occupancy is of
    a person the community already has (found by name and mobile)."""
    return {
        "楼栋": [BUILDING_HEADER, ["2栋", 18], ["3栋", None]],
        "房屋": [
            UNIT_HEADER,
            ["2栋", "1单元", 18, "1801", 98.5, 80.2, "住宅", "已入住", dt.date(2020, 6, 30)],
            ["2栋", "1单元", 18.0, 1802, "120.00", None, "commercial", "vacant", "2021-01-05"],
            ["3栋", None, -1, "B101", 30, None, "车库", None, None],
        ],
        "人员": [
            PERSON_HEADER,
            ["李四", "13800138001", LI_SI_ID, None],
            ["王五", "139 0013 8002", None, "租户"],
        ],
        "入住关系": [
            OCCUPANCY_HEADER,
            [
                "2栋",
                "1单元",
                "1801",
                "李四",
                None,
                LI_SI_ID,
                "业主",
                dt.date(2020, 7, 1),
                None,
                "是",
            ],
            [
                "2栋",
                "1单元",
                "1802",
                "王五",
                "13900138002",
                None,
                "tenant",
                "2021-02-01",
                "2022-01-31",
                "否",
            ],
            [
                "3栋",
                None,
                "B101",
                existing_person.name,
                existing_person.mobile,
                None,
                "家属",
                "2021-03-01",
                None,
                None,
            ],
        ],
        "说明": [["ignored sheet"]],
    }


@pytest.fixture
def manager(estate):
    return t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])


def run(manager, community, data: bytes) -> imports.ImportResult:
    return estate_import(acting_user=manager, community=community, file=upload(data))


def totals(community) -> tuple[int, int, int, int]:
    return (
        Building.objects.filter(community=community).count(),
        Unit.objects.filter(community=community).count(),
        Person.objects.filter(community=community).count(),
        Occupancy.objects.filter(unit__community=community).count(),
    )


def as_tuples(result: imports.ImportResult) -> dict[str, tuple[int, int, int]]:
    return {sheet: (c.created, c.updated, c.unchanged) for sheet, c in result.counts.items()}


# --- the service -----------------------------------------------------------------------
def test_good_file_imports_everything_with_counts(estate, manager):
    a1 = estate["a1"]
    before = totals(a1)
    result = run(manager, a1, workbook(good_sheets(estate["a1_person"])))

    assert result.ok, result.errors
    assert as_tuples(result) == {
        "楼栋": (2, 0, 0),
        "房屋": (3, 0, 0),
        "人员": (2, 0, 0),
        "入住关系": (3, 0, 0),
    }
    assert totals(a1) == (before[0] + 2, before[1] + 3, before[2] + 2, before[3] + 3)
    unit = Unit.objects.get(community=a1, building__name="2栋", room_no="1801")
    assert (unit.floor, unit.building_area, unit.usable_area) == (
        18,
        Decimal("98.50"),
        Decimal("80.20"),
    )
    assert (unit.kind, unit.status, unit.delivered_on) == (
        "residential",
        "occupied",
        dt.date(2020, 6, 30),
    )
    shop = Unit.objects.get(community=a1, room_no="1802")
    assert (shop.kind, shop.status, shop.floor) == ("commercial", "vacant", 18)
    li_si = Person.objects.get(community=a1, name="李四")
    assert li_si.id_number == LI_SI_ID and li_si.id_number_index == id_number_index(LI_SI_ID)
    assert Person.objects.get(community=a1, name="王五").mobile == "13900138002"
    owner = Occupancy.objects.get(unit=unit)
    assert (owner.person, owner.role, owner.is_payer) == (li_si, "owner", True)
    family = Occupancy.objects.get(unit__room_no="B101", unit__community=a1)
    assert family.person == estate["a1_person"] and family.role == "family"
    # Nothing landed in another community.
    assert not Building.objects.filter(name="2栋").exclude(community=a1).exists()


def test_same_file_twice_creates_nothing_new(estate, manager):
    a1 = estate["a1"]
    data = workbook(good_sheets(estate["a1_person"]))
    first = run(manager, a1, data)
    after_first = totals(a1)

    second = run(manager, a1, data)

    assert second.ok, second.errors
    assert totals(a1) == after_first
    assert as_tuples(second) == {
        sheet: (0, 0, created) for sheet, (created, _, _) in as_tuples(first).items()
    }
    assert AuditEvent.objects.filter(action="import", community_id=a1.pk).count() == 2


def test_changed_attributes_update_and_are_audited(estate, manager):
    a1 = estate["a1"]
    sheets = good_sheets(estate["a1_person"])
    run(manager, a1, workbook(sheets))
    sheets["房屋"][1][4] = "99.00"  # building area of 2栋1单元1801
    sheets["人员"][1][1] = "13800138999"  # 李四, found by ID number, has a new mobile

    result = run(manager, a1, workbook(sheets))

    assert result.counts["房屋"].updated == 1 and result.counts["房屋"].unchanged == 2
    assert result.counts["人员"].updated == 1
    unit = Unit.objects.get(community=a1, room_no="1801")
    assert unit.building_area == Decimal("99.00")
    event = AuditEvent.objects.get(
        action="change", content_type__model="unit", object_id=str(unit.pk), community_id=a1.pk
    )
    assert event.changes == {"building_area": ["98.50", "99.00"]}
    assert Person.objects.get(community=a1, name="李四").mobile == "13800138999"


def test_three_bad_rows_import_nothing_and_are_all_reported(estate, manager):
    a1 = estate["a1"]
    data = workbook(three_bad_rows(good_sheets(estate["a1_person"])))
    before, audits = totals(a1), AuditEvent.objects.count()

    result = run(manager, a1, data)

    assert not result.ok and not result.counts
    assert [(e.sheet, e.row_number, e.column) for e in result.errors] == [
        ("房屋", 4, "建筑面积"),
        ("人员", 4, "身份证号"),
        ("人员", 5, "手机号"),
    ]
    assert all(e.message for e in result.errors)
    assert totals(a1) == before and AuditEvent.objects.count() == audits


def three_bad_rows(sheets: dict[str, list[list]]) -> dict[str, list[list]]:
    bad_id = LI_SI_ID[:-1] + ("0" if LI_SI_ID[-1] != "0" else "1")
    sheets["人员"].append(["赵六", "13800138003", bad_id, None])  # row 4: check character
    sheets["人员"].append(["钱七", "1380013800", None, None])  # row 5: 10-digit mobile
    sheets["房屋"][3][4] = -30  # row 4: negative area
    return sheets


def test_reasons_are_in_chinese(estate, manager):
    data = workbook(three_bad_rows(good_sheets(estate["a1_person"])))
    with translation.override("zh-hans"):
        result = run(manager, estate["a1"], data)
    assert result.errors[0].message == "面积必须大于零。"
    # The ID number and mobile reasons come from linli.core.validators.
    assert all(re.search(r"[\u4e00-\u9fff]", e.message) for e in result.errors)


@pytest.mark.parametrize(
    ("sheet", "row", "column", "value"),
    [
        ("房屋", 1, 5, "98.505"),  # three decimals
        ("房屋", 1, 5, "九十"),  # not a number
        ("房屋", 1, 5, 200),  # usable area larger than building area 98.5
        ("房屋", 1, 2, 18.5),  # floor not whole
        ("房屋", 1, 6, "别墅"),  # unknown kind
        ("房屋", 1, 8, "2020/06/30"),  # not YYYY-MM-DD
        ("入住关系", 1, 9, "也许"),  # is_payer neither 是 nor 否
        ("入住关系", 2, 8, "2020-01-01"),  # end before start
        ("入住关系", 1, 6, "房东"),  # unknown role
    ],
)
def test_each_kind_of_bad_cell_is_reported(estate, manager, sheet, row, column, value):
    sheets = good_sheets(estate["a1_person"])
    sheets[sheet][row][column] = value

    result = run(manager, estate["a1"], workbook(sheets))

    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert (error.sheet, error.row_number) == (sheet, row + 1) and error.message


def test_rows_must_refer_to_known_buildings_units_and_people(estate, manager):
    sheets = good_sheets(estate["a1_person"])
    sheets["房屋"].append(["9栋", "1单元", 1, "101", None, None, None, None, None])
    sheets["入住关系"].append(
        ["2栋", "1单元", "404", "李四", None, LI_SI_ID, "业主", "2020-01-01", None, None]
    )
    sheets["入住关系"].append(
        ["2栋", "1单元", "1801", "无名", "13700000000", None, "业主", "2020-01-01", None, None]
    )
    # A person of another community is not found by this community's import.
    other = estate["a2_person"]
    sheets["入住关系"].append(
        ["2栋", "1单元", "1801", other.name, other.mobile, None, "家属", "2020-01-01", None, None]
    )

    result = run(manager, estate["a1"], workbook(sheets))

    assert [(e.sheet, e.row_number, e.column) for e in result.errors] == [
        ("房屋", 5, "楼栋名称"),
        ("入住关系", 5, "房号"),
        ("入住关系", 6, "姓名"),
        ("入住关系", 7, "姓名"),
    ]


def test_duplicate_rows_name_both_row_numbers(estate, manager):
    sheets = good_sheets(estate["a1_person"])
    sheets["房屋"].append(list(sheets["房屋"][1]))  # row 5 repeats row 2
    sheets["人员"].append(["李四", None, LI_SI_ID, None])  # row 4: same ID number as row 2

    result = run(manager, estate["a1"], workbook(sheets))

    assert [(e.sheet, e.row_number) for e in result.errors] == [("房屋", 5), ("人员", 4)]
    assert "2" in result.errors[0].message and "2" in result.errors[1].message


def test_missing_required_column_is_reported_on_the_header_row(estate, manager):
    sheets = good_sheets(estate["a1_person"])
    sheets["楼栋"] = [["地上层数"], [18]]

    result = run(manager, estate["a1"], workbook(sheets))

    assert (result.errors[0].sheet, result.errors[0].row_number, result.errors[0].column) == (
        "楼栋",
        1,
        "楼栋名称",
    )


def test_a_text_file_named_xlsx_is_refused(estate, manager):
    with pytest.raises(ImportRefused) as refused:
        estate_import(
            acting_user=manager,
            community=estate["a1"],
            file=upload(b"building,unit\n1,101\n", name="fake.xlsx"),
        )
    assert refused.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100,  # old .xls
        b"PK\x03\x04 broken zip",
    ],
)
def test_other_non_xlsx_files_are_refused(estate, manager, data):
    with pytest.raises(ImportRefused):
        run(manager, estate["a1"], data)


def test_a_zip_that_is_not_a_workbook_is_refused(estate, manager):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hello")
    with pytest.raises(ImportRefused):
        run(manager, estate["a1"], buffer.getvalue())


def test_a_workbook_without_known_sheets_is_refused(estate, manager):
    with pytest.raises(ImportRefused):
        run(manager, estate["a1"], workbook({"Sheet1": [["a", "b"]]}))


def test_too_large_file_is_refused(estate, manager):
    data = workbook(good_sheets(estate["a1_person"]))
    with override_settings(LINLI_IMPORT_MAX_BYTES=len(data) - 1):
        with pytest.raises(ImportRefused):
            run(manager, estate["a1"], data)
    with override_settings(LINLI_IMPORT_MAX_BYTES=len(data)):
        assert run(manager, estate["a1"], data).ok


@override_settings(LINLI_IMPORT_MAX_ROWS=7)
def test_too_many_rows_is_refused(estate, manager):
    with pytest.raises(ImportRefused):
        run(manager, estate["a1"], workbook(good_sheets(estate["a1_person"])))  # 10 rows


def test_staff_without_permission_or_scope_cannot_import(estate, manager):
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]])
    data = workbook(good_sheets(estate["a1_person"]))
    with pytest.raises(PermissionDenied):
        run(cashier, estate["a1"], data)
    with pytest.raises(PermissionDenied):
        run(manager, estate["a2"], data)


def test_template_has_four_sheets_and_imports_its_examples(estate):
    data = estate_import_template()
    community = t.make_community(estate["company_a"])
    admin = t.make_staff(estate["company_a"], Role.COMPANY_ADMIN)

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert {"楼栋", "房屋", "人员", "入住关系", "说明"} <= set(book.sheetnames)
    assert [c.value for c in book["房屋"][1]] == UNIT_HEADER
    result = run(admin, community, data)
    assert result.ok, result.errors
    assert {sheet: c.created for sheet, c in result.counts.items()} == {
        "楼栋": 1,
        "房屋": 1,
        "人员": 1,
        "入住关系": 1,
    }


# --- the console page ------------------------------------------------------------------
URL = "/console/estate/import/"


def post(client, community, data: bytes, name: str = "estate.xlsx"):
    return client.post(URL, {"community": community.pk, "file": upload(data, name)})


def test_manager_imports_into_own_community(client, estate, manager):
    client.force_login(manager)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert estate["a1"].name in html and estate["a2"].name not in html
    assert 'enctype="multipart/form-data"' in html and "csrfmiddlewaretoken" in html
    assert reverse("console:estate-import-template") in html
    assert page.context["submit_label"] == "导入" and page.context["form"]["community"].label == "小区"

    response = post(client, estate["a1"], workbook(good_sheets(estate["a1_person"])))

    assert response.status_code == 200
    assert 'id="import-done"' in response.content.decode()
    assert Building.objects.filter(community=estate["a1"], name="2栋").exists()


@pytest.mark.parametrize("other", ["a2", "b1"])
def test_community_outside_scope_is_404(client, estate, manager, other):
    client.force_login(manager)
    response = post(client, estate[other], workbook(good_sheets(estate["a1_person"])))
    assert response.status_code == 404
    assert not Building.objects.filter(name="2栋").exists()


def test_cashier_is_forbidden(client, estate):
    client.force_login(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]))
    assert client.get(URL).status_code == 403
    assert client.get(reverse("console:estate-import-template")).status_code == 403
    assert post(client, estate["a1"], b"x").status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_page_lists_every_bad_row(client, estate, manager):
    client.force_login(manager)
    sheets = good_sheets(estate["a1_person"])
    sheets["房屋"][3][4] = -30
    sheets["人员"].append(["钱七", "1380013800", None, None])

    response = post(client, estate["a1"], workbook(sheets))

    html = response.content.decode()
    assert response.status_code == 200 and 'id="import-errors"' in html
    assert "建筑面积" in html and "手机号" in html
    assert not Building.objects.filter(name="2栋").exists()


def test_page_shows_why_a_file_is_refused(client, estate, manager):
    client.force_login(manager)
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        expected = str(xlsx.not_xlsx().message)
    response = client.post(
        URL,
        {"community": estate["a1"].pk, "file": upload(b"not a workbook", "fake.xlsx")},
    )
    assert response.status_code == 200
    assert expected in response.content.decode().replace("&#x27;", "'")


def test_template_downloads_as_xlsx(client, estate, manager):
    client.force_login(manager)
    response = client.get(reverse("console:estate-import-template"))
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert "attachment" in response["Content-Disposition"]
    assert "房屋" in openpyxl.load_workbook(io.BytesIO(response.content)).sheetnames
