"""The estate import's file format: the sheets 楼栋 / 房屋 / 人员 / 入住关系, their columns
(headers, help, examples) and the cell parsers the shared ones (``core.xlsx``) lack.

Sheet names and column headers are a file format, so they are Chinese literals;
messages are translated like every other text. ``linli.estate.imports`` reads and
writes with these."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import xlsx
from linli.core.validators import (
    id_number_check_char,
    normalise_id_number,
    normalise_mobile,
    validate_id_number,
    validate_mobile,
)
from linli.core.xlsx import CellError, SheetSpec
from linli.estate.models import Occupancy, Unit

BUILDINGS, UNITS, PEOPLE, OCCUPANCIES = "楼栋", "房屋", "人员", "入住关系"


# --- cells the shared parsers do not cover ----------------------------------------------
def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,6}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CellError(
                _("Write a whole number from %(low)d to %(high)d.") % {"low": low, "high": high}
            )
        return value

    return parse


def _area(value: Any) -> Decimal:
    if isinstance(value, bool | dt.date | dt.time):
        raise CellError(_("Write the area in square metres as a number, e.g. 88.50."))
    try:
        number = Decimal(xlsx.plain_text(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise CellError(_("Write the area in square metres as a number, e.g. 88.50."))
    if number <= 0:
        raise CellError(_("The area must be greater than zero."))
    if number >= Decimal("100000000"):
        raise CellError(_("The area is too large."))
    if number.normalize().as_tuple().exponent < -2:
        raise CellError(_("Write the area with at most 2 decimal places."))
    return number.quantize(Decimal("0.01"))


def _validated(validator: Callable[[str], None], text: str) -> str:
    try:
        validator(text)
    except ValidationError as exc:
        raise CellError(" ".join(str(m) for m in exc.messages)) from exc
    return text


def _mobile(value: Any) -> str:
    return _validated(validate_mobile, normalise_mobile(xlsx.plain_text(value)))


def _id_number(value: Any) -> str:
    return _validated(validate_id_number, normalise_id_number(xlsx.plain_text(value)))


# --- the file format -------------------------------------------------------------------
_KINDS = {"住宅": Unit.Kind.RESIDENTIAL, "商铺": Unit.Kind.COMMERCIAL, "车库": Unit.Kind.GARAGE}
_STATUSES = {
    "已入住": Unit.Status.OCCUPIED,
    "空置": Unit.Status.VACANT,
    "装修中": Unit.Status.DECORATING,
}
_ROLES = {
    "业主": Occupancy.Role.OWNER,
    "共有人": Occupancy.Role.CO_OWNER,
    "租户": Occupancy.Role.TENANT,
    "家属": Occupancy.Role.FAMILY,
}
_EXAMPLE_ID = "11010519491231002" + id_number_check_char("11010519491231002")
_EXAMPLE_MOBILE = "13800138000"

_HELP = {
    "楼栋名称": gettext_lazy("The building's name, e.g. 1栋."),
    "地上层数": gettext_lazy("Number of floors above ground, a whole number."),
    "单元": gettext_lazy("The entrance (单元), e.g. 1单元; blank if the building has none."),
    "楼层": gettext_lazy("The floor, a whole number; negative for basements."),
    "房号": gettext_lazy("The room number, e.g. 1801."),
    "建筑面积": gettext_lazy("Building area in m², at most 2 decimal places."),
    "套内面积": gettext_lazy("Usable area in m², not larger than the building area."),
    "类型": gettext_lazy("住宅, 商铺 or 车库; blank means 住宅 for a new unit."),
    "状态": gettext_lazy("已入住, 空置 or 装修中; blank means 空置 for a new unit."),
    "交付日期": gettext_lazy("The date the unit was handed over, YYYY-MM-DD."),
    "姓名": gettext_lazy("The person's full name."),
    "手机号": gettext_lazy("An 11-digit mainland mobile number; give a mobile or an ID number."),
    "身份证号": gettext_lazy("The 18-character resident ID number; format the column as text."),
    "备注": gettext_lazy("Anything staff should know."),
    "身份": gettext_lazy("业主, 共有人, 租户 or 家属."),
    "开始日期": gettext_lazy("The date the person moved in or bought the unit, YYYY-MM-DD."),
    "结束日期": gettext_lazy("The date the person left; blank while they still live there."),
    "是否缴费人": gettext_lazy("是 if this person pays the unit's fees, otherwise 否."),
}


def _sheet(name: str, columns: list[tuple[str, str, Callable[[Any], Any], bool, Any]]) -> SheetSpec:
    return SheetSpec(
        name,
        tuple(
            xlsx.Column(key, header, parse, _HELP[header], example, required)
            for key, header, parse, required, example in columns
        ),
    )


# The columns that identify a unit or a person are the same in every sheet that has them.
_UNIT_REF = [
    ("building", "楼栋名称", xlsx.text(30), True, "1栋"),
    ("entrance", "单元", xlsx.text(20), False, "1单元"),
]
_PERSON_REF = [
    ("name", "姓名", xlsx.text(50), True, "张三"),
    ("mobile", "手机号", _mobile, False, _EXAMPLE_MOBILE),
    ("id_number", "身份证号", _id_number, False, _EXAMPLE_ID),
]
# fmt: off
BUILDING_SHEET = _sheet(BUILDINGS, [
    ("name", "楼栋名称", xlsx.text(30), True, "1栋"),
    ("floors", "地上层数", _integer(1, 200), False, 18),
])
UNIT_SHEET = _sheet(UNITS, [
    *_UNIT_REF,
    ("floor", "楼层", _integer(-10, 300), True, 18),
    ("room_no", "房号", xlsx.text(20), True, "1801"),
    ("building_area", "建筑面积", _area, False, Decimal("98.50")),
    ("usable_area", "套内面积", _area, False, Decimal("80.20")),
    ("kind", "类型", xlsx.choice(_KINDS), False, "住宅"),
    ("status", "状态", xlsx.choice(_STATUSES), False, "已入住"),
    ("delivered_on", "交付日期", xlsx.date, False, dt.date(2020, 6, 30)),
])
PERSON_SHEET = _sheet(PEOPLE, [
    *_PERSON_REF,
    ("note", "备注", xlsx.text(200), False, ""),
])
OCCUPANCY_SHEET = _sheet(OCCUPANCIES, [
    *_UNIT_REF,
    ("room_no", "房号", xlsx.text(20), True, "1801"),
    *_PERSON_REF,
    ("role", "身份", xlsx.choice(_ROLES), True, "业主"),
    ("start_date", "开始日期", xlsx.date, True, dt.date(2020, 7, 1)),
    ("end_date", "结束日期", xlsx.date, False, None),
    ("is_payer", "是否缴费人", xlsx.yes_no, False, "是"),
])
# fmt: on
SHEETS = (BUILDING_SHEET, UNIT_SHEET, PERSON_SHEET, OCCUPANCY_SHEET)
