"""Importing an estate from Excel: sheets 楼栋 / 房屋 / 人员 / 入住关系.

All or nothing: every row of every sheet is checked first and every problem is
reported; only a file without a single problem is written, in one transaction.
Rows are matched with what the community already has by natural keys (building by
name; unit by building, entrance and room; person by ID number, else by name and
mobile; occupancy by unit, person, role and start date), so importing the same file
again creates nothing. A blank optional cell keeps the value the record already has.

The file format (sheets, columns, cell parsers) is ``linli.estate.import_sheets``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import openpyxl
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from linli.core import progress, xlsx
from linli.core.audit import audit_record
from linli.core.crypto import mobile_index
from linli.core.models import AuditEvent
from linli.core.validators import mask_mobile
from linli.core.xlsx import ImportRefused, RowError
from linli.estate.access import community_ids_for
from linli.estate.import_sheets import BUILDINGS, OCCUPANCIES, PEOPLE, SHEETS, UNITS
from linli.estate.models import Building, Community, Occupancy, Person, Unit, id_number_index

__all__ = [
    "ImportRefused",
    "ImportResult",
    "RowError",
    "SHEETS",
    "SheetCounts",
    "estate_import",
    "estate_import_template",
]

GUIDE = "说明"
IMPORT_PERMISSION = "estate.import_estate"


# --- results -------------------------------------------------------------------------
@dataclass
class SheetCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportResult:
    counts: dict[str, SheetCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- matching rows with the community's records -------------------------------------
@dataclass
class _Change:
    obj: models.Model
    changed: dict[str, list[Any]]
    created: bool


class _People:
    """People found by ID number (blind index) or, failing that, by name and mobile."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.by_index: dict[str, Person] = {}
        self.by_name_mobile: dict[tuple[str, str], Person] = {}
        for person in people:
            self.add(person)

    def add(self, person: Person) -> None:
        if person.id_number_index:
            self.by_index.setdefault(person.id_number_index, person)
        if person.mobile_index:
            self.by_name_mobile.setdefault((person.name, person.mobile_index), person)

    def find(self, row: xlsx.ParsedRow) -> Person | None:
        index = id_number_index(row.values.get("id_number", ""))
        if index in self.by_index:
            return self.by_index[index]
        match = self.by_name_mobile.get(
            (row.values["name"], mobile_index(row.values.get("mobile", ""))))
        if match is not None and index and match.id_number_index:
            return None  # same name and mobile, but a different ID number: someone else
        return match


@dataclass
class _Estate:
    """The community's records, plus the new ones the file adds, keyed as rows refer to them."""

    community: Community
    buildings: dict[str, Building]
    units: dict[tuple[str, str, str], Unit]
    people: _People
    occupancies: dict[tuple[int, int, str, dt.date], Occupancy]

    @classmethod
    def load(cls, community: Community) -> _Estate:
        buildings = {b.name: b for b in Building.objects.filter(community=community)}
        units = {
            (u.building.name, u.entrance, u.room_no): u
            for u in Unit.objects.filter(community=community).select_related("building")
        }
        people = list(Person.objects.filter(community=community))
        units_by_pk = {u.pk: u for u in units.values()}
        people_by_pk = {p.pk: p for p in people}
        occupancies = {  # keyed by the identity of the in-memory unit and person
            (id(units_by_pk[o.unit_id]), id(people_by_pk[o.person_id]), o.role, o.start_date): o
            for o in Occupancy.objects.filter(
                unit__community=community, person__community=community
            )
        }
        return cls(community, buildings, units, _People(people), occupancies)


def _assign(obj: models.Model, row: xlsx.ParsedRow, attrs: Iterable[str]) -> _Change:
    """Copy the row's non-blank values onto ``obj``; report what changed."""
    changed = {}
    for attr in attrs:
        if attr in row.values and getattr(obj, attr) != row.values[attr]:
            changed[attr] = [getattr(obj, attr), row.values[attr]]
            setattr(obj, attr, row.values[attr])
    return _Change(obj=obj, changed=changed, created=obj.pk is None)


def _repeats(row: xlsx.ParsedRow, obj: object, seen: dict[int, int], key: str) -> bool:
    if id(obj) in seen:
        row.fail(key, _("This row repeats row %(row)d.") % {"row": seen[id(obj)]})
        return True
    seen[id(obj)] = row.number
    return False


def _plan_buildings(rows: list[xlsx.ParsedRow], estate: _Estate) -> list[_Change]:
    changes, seen = [], {}
    for row in rows:
        if not row.has("name"):
            continue
        name = row.values["name"]
        building = estate.buildings.setdefault(
            name, Building(community=estate.community, name=name)
        )
        if not _repeats(row, building, seen, "name"):
            changes.append(_assign(building, row, ("floors",)))
    return changes


def _unit_key(row: xlsx.ParsedRow) -> tuple[str, str, str]:
    return (row.values["building"], row.values.get("entrance", ""), row.values["room_no"])


def _plan_units(rows: list[xlsx.ParsedRow], estate: _Estate) -> list[_Change]:
    changes, seen = [], {}
    for row in rows:
        if not row.has("building", "room_no") or row.failed("entrance"):
            continue
        building = estate.buildings.get(row.values["building"])
        if building is None:
            row.fail(
                "building",
                _("Building %(name)s is neither in the community nor in sheet %(sheet)s.")
                % {"name": row.values["building"], "sheet": BUILDINGS},
            )
            continue
        key = _unit_key(row)
        unit = estate.units.get(key)
        if unit is None:
            unit = estate.units[key] = Unit(
                community=estate.community,
                building=building,
                entrance=key[1],
                room_no=key[2],
                floor=0,
            )
        if _repeats(row, unit, seen, "room_no"):
            continue
        changes.append(
            _assign(
                unit,
                row,
                ("floor", "building_area", "usable_area", "kind", "status", "delivered_on"),
            )
        )
        if unit.usable_area and unit.building_area and unit.usable_area > unit.building_area:
            row.fail("usable_area", _("The usable area cannot be larger than the building area."))
    return changes


def _plan_people(rows: list[xlsx.ParsedRow], estate: _Estate) -> list[_Change]:
    changes, seen = [], {}
    for row in rows:
        if not row.has("name") or row.failed("mobile", "id_number"):
            continue
        if not row.has("mobile") and not row.has("id_number"):
            row.fail("mobile", _("Give the person's mobile number or ID number."))
            continue
        person = estate.people.find(row) or Person(community=estate.community)
        if _repeats(row, person, seen, "name"):
            continue
        changes.append(_assign(person, row, ("name", "mobile", "id_number", "note")))
        person.normalise()
        estate.people.add(person)
    return changes


def _plan_occupancies(rows: list[xlsx.ParsedRow], estate: _Estate) -> list[_Change]:
    changes, seen = [], {}
    for row in rows:
        keys = ("building", "room_no", "name", "role", "start_date")
        if not row.has(*keys) or row.failed("entrance", "mobile", "id_number"):
            continue
        unit = estate.units.get(_unit_key(row))
        if unit is None:
            row.fail(
                "room_no",
                _("This unit is neither in the community nor in sheet %(sheet)s.")
                % {"sheet": UNITS},
            )
        person = estate.people.find(row)
        if person is None:
            row.fail(
                "name",
                _("This person is neither in the community nor in sheet %(sheet)s.")
                % {"sheet": PEOPLE},
            )
        if unit is None or person is None:
            continue
        key = (id(unit), id(person), row.values["role"], row.values["start_date"])
        occupancy = estate.occupancies.setdefault(
            key, Occupancy(unit=unit, person=person, role=key[2], start_date=key[3])
        )
        if _repeats(row, occupancy, seen, "role"):
            continue
        changes.append(_assign(occupancy, row, ("end_date", "is_payer")))
        if occupancy.end_date and occupancy.end_date < occupancy.start_date:
            row.fail("end_date", _("The end date is earlier than the start date."))
    return changes


_PLANNERS = {
    BUILDINGS: _plan_buildings,
    UNITS: _plan_units,
    PEOPLE: _plan_people,
    OCCUPANCIES: _plan_occupancies,
}


def _plan(
    raw: dict[str, xlsx.RawSheet], estate: _Estate
) -> tuple[dict[str, list[_Change]], list[RowError]]:
    plan, errors = {}, []
    for spec in SHEETS:
        rows, header_errors = (
            xlsx.parse_sheet(spec, raw[spec.name]) if spec.name in raw else ([], [])
        )
        plan[spec.name] = _PLANNERS[spec.name](rows, estate)
        errors += header_errors + [e for row in rows for e in row.errors]
    return plan, errors


# --- writing -------------------------------------------------------------------------
def _audit_value(attr: str, value: Any) -> Any:
    if attr == "id_number":
        return "••••" if value else ""  # a secret: record that it changed, never the value
    if attr == "mobile":
        return mask_mobile(value) if value else ""
    return str(value) if isinstance(value, Decimal | dt.date) else value


def _save(model: type[models.Model], changes: list[_Change], acting_user: Any) -> SheetCounts:
    counts = SheetCounts()
    model.objects.bulk_create([c.obj for c in changes if c.created], batch_size=500)
    for change in changes:
        progress.advance()
        if change.created:
            counts.created += 1
        elif not change.changed:
            counts.unchanged += 1
        else:
            counts.updated += 1
            change.obj.save(
                update_fields=[
                    *change.changed,
                    *(["id_number_index"] if "id_number" in change.changed else []),
                ]
            )
            audit_record(
                actor=acting_user,
                action=AuditEvent.Action.CHANGE,
                obj=change.obj,
                changes={
                    attr: [_audit_value(attr, old), _audit_value(attr, new)]
                    for attr, (old, new) in change.changed.items()
                },
            )
    return counts


def _summary(counts: dict[str, SheetCounts]) -> str:
    return "; ".join(
        _("%(sheet)s: %(created)d new, %(updated)d updated, %(unchanged)d unchanged")
        % {"sheet": sheet, **vars(c)}
        for sheet, c in counts.items()
    )


def _check_allowed(acting_user: Any, community: Community) -> None:
    if not acting_user.has_perm(IMPORT_PERMISSION) or (
        not acting_user.is_superuser and community.pk not in community_ids_for(acting_user)
    ):
        raise PermissionDenied


# --- services ------------------------------------------------------------------------
def estate_import(
    *, acting_user: Any, community: Community, file: IO[bytes], ip: str | None = None
) -> ImportResult:
    """Import ``file`` into ``community``: everything, or nothing and every reason why."""
    _check_allowed(acting_user, community)
    raw = xlsx.read_sheets(xlsx.read_upload(file), [spec.name for spec in SHEETS])
    models_by_sheet = {BUILDINGS: Building, UNITS: Unit, PEOPLE: Person, OCCUPANCIES: Occupancy}
    try:
        with transaction.atomic():
            # One import per community at a time (a no-op lock on SQLite, which has one writer).
            Community.objects.select_for_update(no_key=True).get(pk=community.pk)
            plan, errors = _plan(raw, _Estate.load(community))
            if errors:
                return ImportResult(errors=errors)
            progress.stage(xlsx.SAVING, sum(len(changes) for changes in plan.values()))
            counts = {
                sheet: _save(models_by_sheet[sheet], changes, acting_user)
                for sheet, changes in plan.items()
            }
            audit_record(
                actor=acting_user,
                action=AuditEvent.Action.IMPORT,
                obj=community,
                community_id=community.pk,
                summary=_summary(counts),
                ip=ip,
                changes={"file": getattr(file, "name", "") or ""},
            )
    except IntegrityError as exc:
        raise xlsx.records_changed() from exc
    return ImportResult(counts=counts)


def estate_import_template() -> bytes:
    """A workbook with the four sheets, one example row each, and a 说明 sheet."""
    workbook = openpyxl.Workbook()
    guide = workbook.active
    guide.title = GUIDE
    for line in _guide_lines():
        guide.append(line)
    guide.column_dimensions["D"].width = 70
    for spec in SHEETS:
        xlsx.write_example_sheet(workbook.create_sheet(spec.name), spec)
    return xlsx.workbook_bytes(workbook)


def _guide_lines() -> Iterator[list[Any]]:
    yield [_("How to fill in this workbook")]
    yield [
        _("Fill in the sheets %(sheets)s; keep their names and first rows as they are.")
        % {"sheets": "、".join(s.name for s in SHEETS)}
    ]
    yield [_("Delete the example rows before importing your own data.")]
    yield [_("If any row is wrong, nothing is imported and every wrong row is listed.")]
    yield [
        _(
            "Importing the same file again creates nothing new; a blank cell keeps the current value."
        )
    ]
    yield []
    yield [
        pgettext("estate import", "Sheet"),
        pgettext("estate import", "Column"),
        pgettext("estate import", "Required"),
        pgettext("estate import", "Description"),
    ]
    for spec in SHEETS:
        for column in spec.columns:
            yield [
                spec.name,
                column.header,
                pgettext("estate import", "Yes") if column.required else "",
                str(column.help),
            ]
