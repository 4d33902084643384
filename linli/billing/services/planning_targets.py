"""Whom a bill run bills: every unit or parking space a standard's bindings cover, once,
streamed in id order with whether it is already billed for the period (see
``linli.billing.services.planning``, which plans their bills)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Q

from linli.billing.calculators.periods import Period, add_months
from linli.billing.models import Bill, Binding, ChargeStandard
from linli.estate.models import ParkingSpace, Unit

Method = ChargeStandard.Method
SPACE_METHODS = (Method.FIXED_SPACE,)
UNIT_CHUNK = 2000


class _Target(NamedTuple):
    unit_id: int
    parking_space_id: int | None
    area: Decimal | None
    vacant: bool
    delivered_on: dt.date | None
    start: dt.date
    end: dt.date | None
    billed: bool  # a bill for this unit or space, fee item and period exists


def _stream(rows) -> Iterator[tuple]:
    """A values_list starting with the id, in id order, fetched in chunks. One query,
    not keyset pages, which would each re-read the community's units."""
    return rows.order_by("id").iterator(chunk_size=UNIT_CHUNK)


def _billed_ids(fee_item_id: int, period: Period, *, spaces: bool) -> Iterator[int]:
    """Ids of the units (or spaces) already billed for the fee item on any day of the
    period, in order — keyed like the bill unique constraints: the space if any, else
    the unit. Any day, not only the same period: a standard moved from quarterly to
    monthly (or a billing year that now starts in another month) must not bill November
    again under a bill for October–December. A bill starts at most a year (the longest
    cycle) before the period, which bounds the period keys read; one-off charges
    (``O-…`` keys) fall outside the range."""
    column = "parking_space_id" if spaces else "unit_id"
    return (
        Bill.objects.filter(fee_item_id=fee_item_id, parking_space__isnull=not spaces,
                            period_key__gte=f"{add_months(period.start, -11):%Y-%m}",
                            period_key__lte=f"{period.end:%Y-%m}",
                            period_start__lte=period.end, period_end__gte=period.start,
                            run_reversed=False)
        .order_by(column).values_list(column, flat=True).iterator(chunk_size=UNIT_CHUNK)
    )


def _with_billed(rows: Iterator[tuple], billed_ids: Iterator[int]) -> Iterator[tuple]:
    """Each row (id first) with a last column saying whether its id is billed.

    A merge of two ascending streams, so that neither is held in memory. (A correlated
    EXISTS per row was the first try: on PostgreSQL, probed from a cursor opened before
    the run's own inserts, it can walk every new index entry of the fee item per row.)
    The bills stream only needs ids at or after the current row, and the run only ever
    writes bills for rows already passed, so its own writes cannot change the answers.
    """
    billed = next(billed_ids, None)
    for row in rows:
        while billed is not None and billed < row[0]:
            billed = next(billed_ids, None)
        yield (*row, billed == row[0])


def _targets(standard, bindings, community_id, period: Period) -> Iterator[_Target]:
    """Every unit or space the bindings cover, once, streamed in id order."""
    if standard.method in SPACE_METHODS:
        billed = _billed_ids(standard.fee_item_id, period, spaces=True)
        yield from _space_targets(bindings, community_id, billed)
        return
    area_field = "usable_area" if standard.method == Method.USABLE_AREA else "building_area"
    cond = Q()
    for b in bindings:
        cond |= _unit_q(b)
    units = Unit.objects.filter(cond, community_id=community_id).values_list(
        "id", area_field, "status", "delivered_on", "building_id", "kind",
    )
    billed = _billed_ids(standard.fee_item_id, period, spaces=False)
    vacant = str(Unit.Status.VACANT)
    span_of = _BindingSpans(bindings)
    for uid, area, status, delivered, building_id, kind, done in (
        _with_billed(_stream(units), billed)
    ):
        yield _Target(uid, None, area, status == vacant, delivered,
                      *span_of(uid, building_id, kind), done)


def _label(target: _Target) -> str:
    """How a warning names a target: the space's code, or the unit's building, entrance
    and room. Read when a warning wants an example (a handful per run), not per unit."""
    if target.parking_space_id:
        return ParkingSpace.objects.filter(pk=target.parking_space_id).values_list(
            "code", flat=True).first() or ""
    found = Unit.objects.filter(pk=target.unit_id).values_list(
        "building__name", "entrance", "room_no").first()
    return "".join(found) if found else ""


def _unit_q(b: Binding) -> Q:
    return {
        Binding.Scope.COMMUNITY: Q(),
        Binding.Scope.BUILDING: Q(building_id=b.building_id),
        Binding.Scope.UNIT_KIND: Q(kind=b.unit_kind),
        Binding.Scope.UNIT: Q(id=b.unit_id),
    }.get(b.scope, Q(pk__in=[]))


class _BindingSpans:
    """unit → (start, end) of the first of the standard's bindings that covers it.

    Called once per unit, so the bindings are sorted into lookups once: the first
    binding by unit id, and — memoised per (building, kind), of which a community has a
    handful — the first of the others; the earlier of the two wins, as in a scan of the
    list in order."""

    def __init__(self, bindings) -> None:
        self.bindings = list(bindings)
        self.by_unit: dict[int, tuple[int, Binding]] = {}
        for index, b in enumerate(self.bindings):
            if b.scope == Binding.Scope.UNIT:
                self.by_unit.setdefault(b.unit_id, (index, b))
        self.others: dict[tuple, tuple[int, Binding] | None] = {}

    def __call__(self, unit_id, building_id, kind) -> tuple[dt.date, dt.date | None]:
        key = (building_id, kind)
        try:
            other = self.others[key]
        except KeyError:
            other = self.others[key] = self._first_other(building_id, kind)
        own = self.by_unit.get(unit_id) if self.by_unit else None
        found = own if other is None or (own is not None and own[0] < other[0]) else other
        if found is None:
            raise AssertionError("unit selected without a matching binding")
        b = found[1]
        return b.start_date, b.end_date

    def _first_other(self, building_id, kind) -> tuple[int, Binding] | None:
        for index, b in enumerate(self.bindings):
            if (
                b.scope == Binding.Scope.COMMUNITY
                or (b.scope == Binding.Scope.BUILDING and b.building_id == building_id)
                or (b.scope == Binding.Scope.UNIT_KIND and b.unit_kind == kind)
            ):
                return index, b
        return None


def _space_targets(bindings, community_id, billed) -> Iterator[_Target]:
    spaces = ParkingSpace.objects.filter(community_id=community_id)
    explicit = {b.parking_space_id: b for b in bindings if b.scope == Binding.Scope.PARKING}
    everywhere = next((b for b in bindings if b.scope == Binding.Scope.ALL_PARKING), None)
    if everywhere is None:
        spaces = spaces.filter(id__in=list(explicit))
    rows = spaces.values_list("id", "unit_id")
    for space_id, unit_id, done in _with_billed(_stream(rows), billed):
        binding = explicit.get(space_id, everywhere)
        yield _Target(unit_id or 0, space_id, None, False, None,
                      binding.start_date, binding.end_date, done)
