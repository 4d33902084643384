"""What a report covers: which communities (and building, fee item), which billing
periods (the window W) and as of which date (D)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from linli.staff.scope import community_ids_for

# Dimensions a report groups by, as paths from a bill.
DIMENSIONS = {
    "community": "community_id",
    "building": "unit__building_id",
    "fee_item": "fee_item_id",
    "unit": "unit_id",
    "space": "parking_space_id",
}


@dataclass(frozen=True)
class Scope:
    """Communities (``None``: every one, for the platform), optionally one building, one
    fee item and one unit."""

    community_ids: frozenset[int] | None = None
    building_id: int | None = None
    fee_item_id: int | None = None
    unit_id: int | None = None

    @classmethod
    def for_user(cls, user, *, community_id: int | None = None, building_id: int | None = None,
                 fee_item_id: int | None = None, unit_id: int | None = None) -> Scope:
        """The staff member's communities, narrowed to ``community_id`` (an id outside
        them gives an empty scope: nothing is shown, nothing leaks)."""
        ids = community_ids_for(user)
        if community_id is not None:
            ids = frozenset({community_id}) & ids
        return cls(frozenset(ids), building_id, fee_item_id, unit_id)

    def bill_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.community_ids is not None:
            q &= Q(**{f"{prefix}community_id__in": sorted(self.community_ids)})
        if self.building_id is not None:
            q &= Q(**{f"{prefix}unit__building_id": self.building_id})
        if self.fee_item_id is not None:
            q &= Q(**{f"{prefix}fee_item_id": self.fee_item_id})
        if self.unit_id is not None:
            q &= Q(**{f"{prefix}unit_id": self.unit_id})
        return q


def month_start(key: str) -> dt.date:
    """``"2026-03"`` → 2026-03-01 (``ValueError`` for anything else)."""
    year, month = key.split("-")
    if len(year) != 4 or len(month) != 2:
        raise ValueError(key)
    return dt.date(int(year), int(month), 1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """Billing periods starting from ``start`` to ``end`` (both days included)."""

    start: dt.date
    end: dt.date

    @classmethod
    def month(cls, key: str) -> Window:
        return cls.months(key, key)

    @classmethod
    def months(cls, first: str, last: str) -> Window:
        start, last_start = month_start(first), month_start(last)
        if last_start < start:
            raise ValueError(last)
        return cls(start, add_months(last_start, 1) - dt.timedelta(days=1))

    @property
    def key(self) -> str:
        first, last = f"{self.start:%Y-%m}", f"{self.end:%Y-%m}"
        return first if first == last else f"{first}~{last}"

    def where(self) -> dict:
        """Bills of the window (lookups from a bill)."""
        return {"period_start__gte": self.start, "period_start__lte": self.end}

    def month_windows(self) -> list[Window]:
        out, day = [], self.start.replace(day=1)
        while day <= self.end:
            out.append(Window.month(f"{day:%Y-%m}"))
            day = add_months(day, 1)
        return out


def end_of(day: dt.date) -> dt.datetime:
    """The first moment after ``day`` in local time: records "on or before ``day``" are
    those stamped before it."""
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
