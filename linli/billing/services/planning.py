"""What a bill run would issue, computed without writing anything.

``plan_bills`` streams planned bills and collects warnings. The preview summarises the
stream; the commit writes it. Both call this same code, so the commit writes exactly
what the preview showed (as of the same data).

It streams, so memory does not grow with the community: units (or spaces) are read by
one query fetched ``UNIT_CHUNK`` rows at a time (a server-side cursor on PostgreSQL),
and merged, both in id order, with a second stream of the ids already billed for the
fee item and period.
Whatever is the same for every bill of a standard (due date, late-fee rule, price) is
worked out once, and ``compute_charge`` — a pure function — is called once per
distinct input (units of one floor plan share their charge).

Proration by days (the bill's ``detail`` records the share, why, and any vacant days):
- every bill covers only the days of its binding (费用绑定) inside the period, and a
  unit's bills start on its delivery date;
- occupancies (owner, co-owner, tenant, family — a unit is "held" while any runs) refine
  this where a unit has them: a per-space fee (parking) is charged only for the days
  the space's unit is held — nothing when it is held on none; a per-unit fee whose
  standard has a vacancy discount (空置房) charges the days the unit is held by no one
  at the vacancy percentage. A unit whose status is "vacant" pays the vacancy
  percentage for every day, as before; a unit with no occupancy recorded at all is
  billed by its status alone (its people are not entered yet, which says nothing about
  its days). Occupancies are read once per period for the whole community, and only
  those of units not held by one occupancy over the whole period (see
  ``_occupancy_gaps``), so the common case costs one query that returns nothing.

Which units and spaces a standard bills, streamed, is ``planning_targets``; this module
plans their bills and collects the warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.billing.calculators.charges import ChargeError, ChargeInput, ChargeLine, compute_charge
from linli.billing.calculators.due import due_date
from linli.billing.calculators.periods import (
    Period,
    covered_days,
    is_period_start,
    parse_month,
    period_for,
)
from linli.billing.calculators.tiers import Tier
from linli.billing.models import (
    Bill,
    BillingSettings,
    Binding,
    ChargeStandard,
    MeterReading,
    StandardRate,
)
from linli.billing.services.planning_targets import (
    SPACE_METHODS,
    UNIT_CHUNK,
    Method,
    _label,
    _Target,
    _targets,
)
from linli.estate.models import Occupancy

CHARGE_MEMO_MAX = 50_000  # distinct charges remembered per standard


class PlannedBill(NamedTuple):
    """One bill the run would issue. Immutable; ``detail`` is shared by bills with the
    same charge, so it is read, never changed."""

    unit_id: int
    parking_space_id: int | None
    fee_item_id: int
    standard_id: int
    rate_id: int
    reading_id: int | None
    period: Period
    quantity: Decimal
    unit_price: Decimal
    amount_fen: int
    detail: dict
    due_date: dt.date
    late_fee_daily_rate: Decimal | None
    late_fee_grace_days: int
    late_fee_cap_fen: int | None

    def as_model(self, *, community_id: int, bill_run_id: int | None, issued_by_id) -> Bill:
        return Bill(
            community_id=community_id,
            unit_id=self.unit_id,
            parking_space_id=self.parking_space_id,
            fee_item_id=self.fee_item_id,
            standard_id=self.standard_id,
            rate_id=self.rate_id,
            reading_id=self.reading_id,
            bill_run_id=bill_run_id,
            period_key=self.period.key,
            period_start=self.period.start,
            period_end=self.period.end,
            quantity=self.quantity,
            unit_price=self.unit_price,
            amount_fen=self.amount_fen,
            detail=self.detail,
            due_date=self.due_date,
            late_fee_daily_rate=self.late_fee_daily_rate,
            late_fee_grace_days=self.late_fee_grace_days,
            late_fee_cap_fen=self.late_fee_cap_fen,
            issued_by_id=issued_by_id,
        )


# What each warning code means; a run stores its warnings by code, shown in the reader's
# language (the stored message is the words of the one who committed it).
WARNINGS = {
    "no_price": gettext_lazy("Standards with no price for this period"),
    "bound_twice": gettext_lazy("Units bound to two standards of one fee item"),
    "space_without_unit": gettext_lazy("Parking spaces not let to any unit"),
    "space_unheld": gettext_lazy("Parking spaces whose unit has no occupancy this period"),
    "missing_reading": gettext_lazy("Units with no meter reading"),
    "reading_review": gettext_lazy("Readings awaiting review"),
    "no_area": gettext_lazy("Units with no area"),
    "past_due": gettext_lazy("Standards whose bills are past due when issued (check the due "
                             "rule)"),
    "price_mid_period": gettext_lazy("Standards with a new price from a day inside the period "
                                     "(a period is billed at the price of its first day; the "
                                     "new price applies from the next period)"),
}


def warning_message(warning: dict) -> str:
    known = WARNINGS.get(warning.get("code"))
    return str(known) if known is not None else warning.get("message", "")


@dataclass
class PlanWarnings:
    """Counted warnings with a few examples each (shown in the preview)."""

    by_code: dict[str, dict] = field(default_factory=dict)
    already_billed: int = 0

    def add(self, code: str, example) -> None:
        """``example`` is the text to show, or a target (``_Target``) whose label is
        looked up only while examples are still wanted: most warnings are counted only."""
        entry = self.by_code.get(code)
        if entry is None:
            entry = self.by_code[code] = {"code": code, "message": str(WARNINGS[code]),
                                          "count": 0, "examples": []}
        entry["count"] += 1
        if len(entry["examples"]) < 5:
            entry["examples"].append(example if isinstance(example, str) else _label(example))

    def as_list(self) -> list[dict]:
        return list(self.by_code.values())


class BillRunError(ValueError):
    """The run cannot be made at all (bad period, beyond the horizon)."""


def check_period(*, community_id: int, period_key: str, today: dt.date) -> dt.date:
    try:
        month = parse_month(period_key)
    except ValueError as exc:
        raise BillRunError(_("“%(p)s” is not a month (YYYY-MM).") % {"p": period_key}) from exc
    settings = BillingSettings.objects.filter(community_id=community_id).first()
    horizon = settings.horizon_months if settings else 12
    latest = (today.replace(day=1).year * 12 + today.month - 1) + horizon
    if month.year * 12 + month.month - 1 > latest:
        raise BillRunError(
            _("%(p)s is more than %(n)s months ahead; bills that far ahead are not allowed.")
            % {"p": period_key, "n": horizon}
        )
    return month


def plan_bills(
    *,
    community_id: int,
    period_key: str,
    fee_item_ids: list[int] | None,
    today: dt.date,
    warnings: PlanWarnings,
) -> Iterator[PlannedBill]:
    month = check_period(community_id=community_id, period_key=period_key, today=today)
    settings = BillingSettings.objects.filter(community_id=community_id).first()
    anchor = settings.quarter_anchor_month if settings else 1
    standards = ChargeStandard.objects.filter(
        fee_item__community_id=community_id, fee_item__active=True, active=True
    ).exclude(method=Method.ONE_OFF).select_related("fee_item").order_by("fee_item_id", "id")
    if fee_item_ids:
        standards = standards.filter(fee_item_id__in=fee_item_ids)
    standards = list(standards)
    shared = _shared_fee_items(standards)
    gaps: dict[Period, dict] = {}  # occupancies that matter, read once per period
    for standard in standards:
        if not is_period_start(month, standard.cycle, anchor):
            continue
        period = period_for(month, standard.cycle, anchor)
        rate = _rate_for(standard, period, warnings)
        if rate is None:
            continue
        seen = shared.get(standard.fee_item_id)
        occupancy = None
        if _needs_occupancy(standard):
            if period not in gaps:
                gaps[period] = _occupancy_gaps(community_id, period)
            occupancy = gaps[period]
        yield from _plan_standard(standard, rate, period, community_id, warnings, seen,
                                  occupancy, today)


def _needs_occupancy(standard: ChargeStandard) -> bool:
    """Occupancy changes only per-space fees and per-unit fees with a vacancy discount."""
    return standard.method in SPACE_METHODS or standard.vacancy_percent is not None


def _occupancy_gaps(community_id: int, period: Period) -> dict[int, tuple]:
    """unit id → its occupancy spans, for the units whose occupancies could leave some
    day of the period unheld: units with occupancies, none of which alone covers the
    whole period. Units held throughout, and units with no occupancy at all, are
    absent — which is most units, so the answer stays small."""
    held_throughout = Occupancy.objects.filter(
        unit_id=OuterRef("unit_id"), start_date__lte=period.start,
    ).filter(Q(end_date__isnull=True) | Q(end_date__gte=period.end))
    rows = (  # NOT EXISTS: an anti-join on PostgreSQL, an index probe per row on SQLite
        Occupancy.objects.filter(~Exists(held_throughout), unit__community_id=community_id)
        .order_by().values_list("unit_id", "start_date", "end_date")
    )
    spans: dict[int, list] = {}
    for unit_id, start, end in rows.iterator(chunk_size=UNIT_CHUNK):
        spans.setdefault(unit_id, []).append((start, end))
    return {unit_id: tuple(found) for unit_id, found in spans.items()}


def _shared_fee_items(standards) -> dict[int, set]:
    """Fee items with several standards: a unit bound to two of them gets one bill, so
    the run remembers what it planned for those (only those) fee items."""
    counts: dict[int, int] = {}
    for standard in standards:
        counts[standard.fee_item_id] = counts.get(standard.fee_item_id, 0) + 1
    return {item_id: set() for item_id, n in counts.items() if n > 1}


def _rate_for(standard: ChargeStandard, period: Period, warnings: PlanWarnings):
    """The price in force on the period's first day: a period has one price. A price that
    starts inside the period is pointed out, so that staff are not surprised."""
    rates = StandardRate.objects.filter(standard=standard, effective_from__lte=period.end)
    rate, later = None, None
    for candidate in rates.order_by("-effective_from"):
        if candidate.effective_from <= period.start:
            rate = candidate
            break
        later = candidate
    if later is not None:
        warnings.add("price_mid_period", f"{standard} → {later.effective_from.isoformat()}")
    if rate is None:
        warnings.add("no_price", str(standard))
    return rate


def _plan_standard(
    standard, rate, period, community_id, warnings, seen: set | None, occupancy: dict | None,
    today: dt.date,
) -> Iterator[PlannedBill]:
    bindings = list(
        Binding.objects.filter(standard=standard, start_date__lte=period.end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=period.start))
    )
    if not bindings:
        return
    readings = _readings(standard, period, community_id) if standard.method == Method.METERED else {}
    planner = _StandardPlanner(standard, rate, period, readings, warnings, occupancy or {})
    issued = False
    for target in _targets(standard, bindings, community_id, period):
        if target.billed:
            warnings.already_billed += 1
            continue
        if seen is not None:
            key = (target.unit_id, target.parking_space_id)
            if key in seen:
                warnings.add("bound_twice", target)
                continue
            seen.add(key)
        planned = planner.plan(target)
        if planned is not None:
            issued = True
            yield planned
    due = planner.same["due_date"]
    if issued and due < today:  # e.g. a fee billed in arrears, due N days after its start
        warnings.add("past_due", f"{standard} → {due.isoformat()}")


def _readings(standard, period, community_id) -> dict[int, MeterReading]:
    qs = MeterReading.objects.filter(
        community_id=community_id, period_key=period.key, meter__kind=standard.meter_kind
    ).select_related("meter")
    return {r.meter.unit_id: r for r in qs}


_FAILED = object()  # memo entry: compute_charge refused this input


class _StandardPlanner:
    """Plans the bills of one standard for one period."""

    def __init__(self, standard, rate, period, readings, warnings, occupancy: dict) -> None:
        self.standard, self.rate, self.period = standard, rate, period
        self.readings, self.warnings, self.occupancy = readings, warnings, occupancy
        self.metered = standard.method == Method.METERED
        self.per_space = standard.method in SPACE_METHODS
        self.vacancy = standard.vacancy_percent
        self.full = _Days(period.days, 0, ())
        self.full_vacant = _Days(period.days, period.days, ())
        self.by_area = standard.method in (Method.BUILDING_AREA, Method.USABLE_AREA)
        self.tiers = tuple(
            Tier(_dec(t.get("up_to")), Decimal(str(t["price"]))) for t in rate.tiers or []
        )
        self.charges: dict[tuple, ChargeLine | object] = {}
        self.whole = Fraction(1)
        late_rate = standard.late_fee_daily_rate if standard.late_fee_enabled else None
        # The fields of a PlannedBill that every bill of this standard shares.
        self.same = {
            "fee_item_id": standard.fee_item_id, "standard_id": standard.pk,
            "rate_id": rate.pk, "period": period,
            "due_date": due_date(period, rule=standard.due_rule, days=standard.due_days,
                                 day_of_month=standard.due_day_of_month),
            "late_fee_daily_rate": late_rate,
            "late_fee_grace_days": standard.late_fee_grace_days,
            "late_fee_cap_fen": standard.late_fee_cap_fen,
        }

    def plan(self, target: _Target) -> PlannedBill | None:
        warnings = self.warnings
        if target.parking_space_id and not target.unit_id:
            warnings.add("space_without_unit", target)
            return None
        days = self._days(target)
        if days is None:
            return None
        reading = None
        if self.metered:
            # Usage read off the meter is what the days used: a unit delivered or a
            # binding started mid-month pays for its reading whole, and a vacant unit's
            # water is not discounted — the meter already says how little it used.
            days = self.full
            reading = self.readings.get(target.unit_id)
            if reading is None:
                warnings.add("missing_reading", target)
                return None
            if not reading.billable:
                warnings.add("reading_review", target)
                return None
        line = self._charge(target, reading, days)
        if line is _FAILED:
            warnings.add("no_area", target)
            return None
        if line.amount_fen <= 0:
            return None
        same = self.same
        return PlannedBill(
            target.unit_id, target.parking_space_id, same["fee_item_id"], same["standard_id"],
            same["rate_id"], reading.pk if reading else None, self.period, line.quantity,
            line.unit_price, line.amount_fen, line.detail, same["due_date"],
            same["late_fee_daily_rate"], same["late_fee_grace_days"], same["late_fee_cap_fen"],
        )

    def _days(self, target: _Target) -> _Days | None:
        """The days of the period this target is billed for, and why some are left out
        or discounted; None when there are none (a warning says why if it is news)."""
        period, start, end = self.period, target.start, target.end
        if not (start > period.start or (end is not None and end < period.end)
                or (target.delivered_on is not None and target.delivered_on > period.start)
                or target.unit_id in self.occupancy):  # the common case, kept fast
            return self.full_vacant if target.vacant and self.vacancy is not None else self.full
        reasons = []
        if start > period.start or (target.end and target.end < period.end):
            reasons.append("binding")
        if target.delivered_on and target.delivered_on > max(start, period.start):
            start = target.delivered_on
            reasons.append("delivery")
        billed = period.overlap_days(start, target.end)
        if billed == 0:
            return None
        spans = self.occupancy.get(target.unit_id)
        vacant = billed if target.vacant and self.vacancy is not None else 0
        if spans is not None and (self.per_space or (self.vacancy is not None and not vacant)):
            held = covered_days(period, spans, start, target.end)
            if held < billed:
                reasons.append("occupancy")
                if self.per_space:
                    billed = held
                else:
                    vacant = billed - held
            if billed == 0:
                self.warnings.add("space_unheld", target)
                return None
        return _Days(billed, vacant, tuple(reasons))

    def _charge(self, target: _Target, reading, days: _Days):
        """``compute_charge`` of this target, remembered by everything it depends on
        (Decimals by their text, so 88.5 and 88.50 stay apart). The area goes in only
        where the method charges by area, so units with one fixed fee share one line."""
        usage = reading.usage if reading else None
        area = target.area if self.by_area else None
        vacancy = self.vacancy if days.vacant else None
        key = (None if area is None else str(area), None if usage is None else str(usage),
               days, vacancy)
        line = self.charges.get(key)
        if line is None:
            if len(self.charges) >= CHARGE_MEMO_MAX:
                self.charges.clear()
            line = self._compute(area, usage, days, vacancy)
            self.charges[key] = line
        return line

    def _compute(self, area, usage, days: _Days, vacancy):
        period_days = self.period.days
        whole = days.billed == period_days
        try:
            line = compute_charge(ChargeInput(
                method=self.standard.method, unit_price=self.rate.unit_price,
                months=self.period.months, area=area, usage=usage, tiers=self.tiers,
                proration=self.whole if whole else Fraction(days.billed, period_days),
                vacancy_percent=vacancy,
                vacant_share=None if days.vacant == days.billed
                else Fraction(days.vacant, period_days),
            ))
        except ChargeError:
            return _FAILED
        # How the line was prorated, for the bill page (shared by the bills of this key).
        if not whole:
            line.detail["days"] = f"{days.billed}/{period_days}"
        if days.reasons:
            line.detail["prorated_by"] = list(days.reasons)
        if vacancy is not None and days.vacant != days.billed:
            line.detail["vacant_days"] = days.vacant
        return line


class _Days(NamedTuple):
    billed: int  # days of the period charged at all
    vacant: int  # of those, days charged at the vacancy percentage
    reasons: tuple[str, ...]  # what cut or discounted days: binding, delivery, occupancy


def _dec(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


PRORATION_REASONS = {
    "binding": gettext_lazy("fee binding dates"),
    "delivery": gettext_lazy("delivery date"),
    "occupancy": gettext_lazy("occupancy dates"),
}


def proration_reasons(codes) -> str:
    """A bill's ``detail["prorated_by"]``, in words."""
    return " / ".join(str(PRORATION_REASONS.get(code, code)) for code in codes)
