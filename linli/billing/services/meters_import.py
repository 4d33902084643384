"""Importing meter readings (抄表) from Excel: one sheet 抄表, one row per meter and month.

All or nothing, like the estate import: every row is checked against the same rules as a
reading typed in the console (``linli.billing.services.meters``), every problem is
listed, and only a file without one is written, in one transaction. A unit's meter of
the row's kind is created if the unit has none. A row equal to the stored reading is
left alone, so importing the same file again creates and changes nothing; a different
value for an unbilled month corrects it (audited), for a billed month it is refused.

Rows of one meter are checked in month order, so a file may hold several months.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import openpyxl
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from linli.billing.calculators.periods import PeriodError, add_months, parse_month
from linli.billing.models import Bill, Meter, MeterReading
from linli.billing.services.meters import (
    KnownReading,
    Outcome,
    ReadingEntry,
    check_entry,
    known,
    lock_billing,
    plan_reading,
    reading_write,
)
from linli.core import progress, xlsx
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.core.xlsx import CellError, Column, ImportRefused, ParsedRow, RowError, SheetSpec
from linli.estate.models import Community, Unit
from linli.staff.scope import community_ids_for

SHEET, GUIDE = "抄表", "说明"
IMPORT_PERMISSION = "billing.add_meterreading"
# Enough months before the file's first month to find each meter's previous reading and
# usual usage; a meter with nothing in that window has its older readings looked up.
_WINDOW_MONTHS = 24

__all__ = ["IMPORT_PERMISSION", "ImportRefused", "ReadingsImportResult", "readings_import",
           "readings_import_template"]


def _month(value: Any) -> str:
    """YYYY-MM; Excel turns a typed 2026-11 into a date, which is taken as its month."""
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?", xlsx.plain_text(value))
    if match:
        key = f"{match[1]}-{int(match[2]):02d}"
        try:
            parse_month(key)
            return key
        except PeriodError:
            pass
    raise CellError(_("Write the month as YYYY-MM, e.g. 2026-11."))


_reading = xlsx.decimal_number(
    places=4, below=Decimal(10) ** 10,
    message=gettext_lazy("Write the reading as a number with at most 4 decimal places, "
                         "e.g. 1234.5."),
)
_KINDS = {"水": Meter.Kind.WATER, "电": Meter.Kind.ELECTRICITY, "燃气": Meter.Kind.GAS}

_HELP = {
    "楼栋": gettext_lazy("The building's name, e.g. 1栋."),
    "单元": gettext_lazy("The entrance (单元), e.g. 1单元; blank if the building has none."),
    "房号": gettext_lazy("The room number, e.g. 1801."),
    "表类型": gettext_lazy("水, 电 or 燃气 (or water, electricity, gas)."),
    "月份": gettext_lazy("The month the reading closes, YYYY-MM; format the column as text."),
    "本期读数": gettext_lazy("The number on the meter, at most 4 decimal places."),
    "是否换表": gettext_lazy("是 if the meter was replaced this month; blank means 否."),
    "新表起始读数": gettext_lazy(
        "The new meter's reading when it was fitted: needed when the meter was replaced, "
        "or for a meter's first reading; otherwise blank."
    ),
    "抄表日期": gettext_lazy("The day the meter was read, YYYY-MM-DD; may be blank."),
}
# fmt: off
SPEC = SheetSpec(SHEET, tuple(
    Column(key, header, parse, _HELP[header], example, required)
    for key, header, parse, required, example in [
        ("building", "楼栋", xlsx.text(30), True, "1栋"),
        ("entrance", "单元", xlsx.text(20), False, "1单元"),
        ("room_no", "房号", xlsx.text(20), True, "1801"),
        ("kind", "表类型", xlsx.choice(_KINDS), True, "水"),
        ("period_key", "月份", _month, True, "2026-11"),
        ("value", "本期读数", _reading, True, Decimal("1234.5")),
        ("replaced", "是否换表", xlsx.yes_no, False, "否"),
        ("start_value", "新表起始读数", _reading, False, None),
        ("read_on", "抄表日期", xlsx.date, False, dt.date(2026, 11, 28)),
    ]
))
# fmt: on


@dataclass
class ReadingCounts:
    meters_created: int = 0
    created: int = 0
    corrected: int = 0
    unchanged: int = 0
    flagged: int = 0


@dataclass
class ReadingsImportResult:
    counts: ReadingCounts | None = None
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Planned:
    meter: Meter
    entry: ReadingEntry
    outcome: Outcome
    existing_pk: int | None


# --- matching rows with the community's units, meters and readings -------------------
def _unit_ids(community: Community) -> dict[tuple[str, str, str], int]:
    rows = Unit.objects.filter(community=community).values_list(
        "id", "building__name", "entrance", "room_no"
    )
    return {(b, e, r): pk for pk, b, e, r in rows.iterator(5000)}


def _meters(community: Community, rows: list[ParsedRow]) -> dict[tuple[int, str], Meter]:
    """Each row's meter (unsaved if new), or a row error if its unit is unknown."""
    units, meters = _unit_ids(community), {}
    existing = {(m.unit_id, m.kind): m for m in Meter.objects.filter(community=community)}
    for row in rows:
        if not row.has("building", "room_no", "kind") or row.failed("entrance"):
            continue
        key = (row.values["building"], row.values.get("entrance", ""), row.values["room_no"])
        unit_id = units.get(key)
        if unit_id is None:
            row.fail("room_no", _("The community has no unit %(unit)s.") % {"unit": "".join(key)})
            continue
        meter_key = (unit_id, row.values["kind"])
        if meter_key not in existing:
            existing[meter_key] = Meter(unit_id=unit_id, community=community,
                                        kind=row.values["kind"])
        meters[id(row)] = existing[meter_key]
    return meters


def _history(community: Community, since: str) -> dict[int, list[KnownReading]]:
    """The community's readings from ``since`` on, plus each other meter's latest
    earlier reading (its previous reading for the file's first month)."""
    billed = set(
        Bill.objects.filter(community=community, reading__isnull=False,
                            reading__period_key__gte=since).values_list("reading_id", flat=True)
    )
    recent = MeterReading.objects.filter(community=community, period_key__gte=since)
    history: dict[int, list[KnownReading]] = defaultdict(list)
    for reading in recent.iterator(5000):
        history[reading.meter_id].append(known(reading, billed=reading.pk in billed))
    older = (
        MeterReading.objects.filter(community=community, period_key__lt=since)
        .exclude(meter_id__in=recent.values("meter_id"))
        .exclude(status=MeterReading.Status.REJECTED)
        .order_by("meter_id", "-period_key")
    )
    for reading in older.iterator(5000):
        if reading.meter_id not in history:  # only the latest: the previous reading
            history[reading.meter_id].append(known(reading, billed=False))
    return history


def _entry(row: ParsedRow) -> ReadingEntry:
    v = row.values
    return ReadingEntry(v["period_key"], v["value"], v.get("replaced", False),
                        v.get("start_value"), v.get("read_on"))


def _fail(row: ParsedRow, error: ValidationError) -> None:
    fields = error.message_dict if hasattr(error, "error_dict") else {"value": error.messages}
    for key, messages in fields.items():
        row.fail(key if key in {c.key for c in SPEC.columns} else "value", " ".join(messages))


def _plan(rows: list[ParsedRow], community: Community, today: dt.date) -> list[_Planned]:
    meters = _meters(community, rows)
    by_meter: dict[int, list[ParsedRow]] = defaultdict(list)
    seen: dict[tuple[int, str], int] = {}
    for row in rows:
        if id(row) not in meters or row.errors or not row.has("period_key", "value"):
            continue
        meter = meters[id(row)]
        key = (id(meter), row.values["period_key"])
        if key in seen:
            row.fail("period_key", _("This row repeats row %(row)d.") % {"row": seen[key]})
            continue
        seen[key] = row.number
        by_meter[id(meter)].append(row)
    if not by_meter:
        return []
    first = min(row.values["period_key"] for group in by_meter.values() for row in group)
    since = add_months(parse_month(first), -_WINDOW_MONTHS).strftime("%Y-%m")
    history = _history(community, since)
    planned = []
    for group in by_meter.values():
        meter = meters[id(group[0])]
        known_readings = list(history.get(meter.pk, [])) if meter.pk else []
        for row in sorted(group, key=lambda r: r.values["period_key"]):
            planned += _plan_row(row, meter, known_readings, today)
    return planned


def _plan_row(row: ParsedRow, meter: Meter, history: list[KnownReading], today) -> list[_Planned]:
    """Check one row; on success update ``history`` so the meter's next month sees it."""
    entry = _entry(row)
    existing = next((k for k in history if k.period_key == entry.period_key), None)
    if existing is not None and existing.same_as(entry):
        return []
    try:
        check_entry(entry, today=today)
        outcome = plan_reading(kind=meter.kind, history=history, entry=entry)
    except ValidationError as error:
        _fail(row, error)
        return []
    if existing is not None:
        history.remove(existing)
    history.append(KnownReading(
        pk=existing.pk if existing else None, period_key=entry.period_key, value=entry.value,
        usage=outcome.usage, status=outcome.status, replaced=entry.replaced,
        start_value=entry.start_value, previous_value=outcome.previous_value,
        read_on=entry.read_on, billed=False,
    ))
    return [_Planned(meter, entry, outcome, existing.pk if existing else None)]


# --- writing ---------------------------------------------------------------------------
def _write(planned: list[_Planned], unchanged: int, acting_user: Any) -> ReadingCounts:
    counts = ReadingCounts(unchanged=unchanged)
    new_meters = list({id(p.meter): p.meter for p in planned if p.meter.pk is None}.values())
    Meter.objects.bulk_create(new_meters, batch_size=500)
    counts.meters_created = len(new_meters)
    entered_by = acting_user if getattr(acting_user, "pk", None) else None
    fresh = []
    progress.stage(xlsx.SAVING, len(planned))
    for p in planned:
        progress.advance()
        counts.flagged += p.outcome.status == MeterReading.Status.FLAGGED
        if p.existing_pk is not None:
            counts.corrected += 1
            reading_write(acting_user=acting_user, meter=p.meter, entry=p.entry,
                          outcome=p.outcome, existing_pk=p.existing_pk)
            continue
        counts.created += 1
        fresh.append(MeterReading(
            meter=p.meter, community_id=p.meter.community_id, period_key=p.entry.period_key,
            value=p.entry.value, replaced=p.entry.replaced, start_value=p.entry.start_value,
            read_on=p.entry.read_on, previous_value=p.outcome.previous_value,
            usage=p.outcome.usage, status=p.outcome.status, flag_reason=p.outcome.flag_reason,
            entered_by=entered_by,
        ))
    MeterReading.objects.bulk_create(fresh, batch_size=1000)
    return counts


def _check_allowed(acting_user: Any, community: Community) -> None:
    if not acting_user.has_perm(IMPORT_PERMISSION) or (
        not acting_user.is_superuser and community.pk not in community_ids_for(acting_user)
    ):
        raise PermissionDenied


def readings_import(
    *, acting_user: Any, community: Community, file: IO[bytes], ip: str | None = None,
    today: dt.date | None = None,
) -> ReadingsImportResult:
    """Import ``file`` into ``community``: every reading, or none and every reason why."""
    _check_allowed(acting_user, community)
    raw = xlsx.read_sheets(xlsx.read_upload(file), (SHEET,), first_if_none=True)
    rows, errors = xlsx.parse_sheet(SPEC, raw[SHEET])
    try:
        with transaction.atomic():
            lock_billing(community.pk)  # also serialises imports of one community
            planned = _plan(rows, community, today or timezone.localdate())
            errors += [e for row in rows for e in row.errors]
            if errors:
                transaction.set_rollback(True)  # the lock row it may have created, too
                return ReadingsImportResult(errors=errors)
            unchanged = len(rows) - len(planned)
            counts = _write(planned, unchanged, acting_user)
            audit_record(
                actor=acting_user, action=AuditEvent.Action.IMPORT, obj=community,
                community_id=community.pk, ip=ip,
                summary=(f"meter readings: {counts.created} new, {counts.corrected} corrected, "
                         f"{counts.unchanged} unchanged, {counts.flagged} flagged, "
                         f"{counts.meters_created} meters added"),
                changes={"file": getattr(file, "name", "") or ""},
            )
    except IntegrityError as exc:
        raise xlsx.records_changed() from exc
    return ReadingsImportResult(counts=counts)


# --- the template ------------------------------------------------------------------------
def readings_import_template() -> bytes:
    """A workbook with the 抄表 sheet (one example row) and a 说明 sheet."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    xlsx.write_example_sheet(sheet, SPEC)
    guide = workbook.create_sheet(GUIDE)
    for line in _guide_lines():
        guide.append(line)
    guide.column_dimensions["C"].width = 80
    return xlsx.workbook_bytes(workbook)


def _guide_lines():
    yield [_("How to fill in this workbook")]
    yield [_("One row per meter and month, in sheet %(sheet)s; keep its first row as it is.")
           % {"sheet": SHEET}]
    yield [_("Delete the example rows before importing your own data.")]
    yield [_("If any row is wrong, nothing is imported and every wrong row is listed.")]
    yield [_("A reading lower than the previous one is refused unless the meter was "
             "replaced; a usage far above the unit's usual one is held for review.")]
    yield [_("Importing the same file again creates nothing new and changes nothing.")]
    yield []
    yield [pgettext("meter import", "Column"), pgettext("meter import", "Required"),
           pgettext("meter import", "Description")]
    for column in SPEC.columns:
        yield [column.header, pgettext("meter import", "Yes") if column.required else "",
               str(column.help)]
