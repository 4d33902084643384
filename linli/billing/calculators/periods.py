"""Billing periods. A period is named by its first month (``2026-11``) and spans one
cycle: 1, 3, 6 or 12 months, or a single day range for one-off charges."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

CYCLE_MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12, "once": 1}
_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @property
    def key(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    def overlap_days(self, start: dt.date | None, end: dt.date | None) -> int:
        """Days of this period inside [start, end] (either side open when None)."""
        lo = max(self.start, start) if start else self.start
        hi = min(self.end, end) if end else self.end
        return max(0, (hi - lo).days + 1)

    def __str__(self) -> str:
        return self.key


def parse_month(text: str) -> dt.date:
    match = _PERIOD_RE.match(str(text).strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise PeriodError(f"not a month: {text!r} (expected YYYY-MM)")
    return dt.date(int(match[1]), int(match[2]), 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_for(month: dt.date | str, cycle: str, anchor_month: int = 1) -> Period:
    """The cycle period containing ``month``. Quarters, halves and years are aligned to
    ``anchor_month`` (1 = calendar quarters Jan/Apr/Jul/Oct)."""
    if isinstance(month, str):
        month = parse_month(month)
    length = CYCLE_MONTHS[cycle]
    offset = (month.month - anchor_month) % length
    start = add_months(month.replace(day=1), -offset)
    end = add_months(start, length) - dt.timedelta(days=1)
    return Period(start, end)


def is_period_start(month: dt.date | str, cycle: str, anchor_month: int = 1) -> bool:
    if isinstance(month, str):
        month = parse_month(month)
    return period_for(month, cycle, anchor_month).start == month.replace(day=1)


def proration(period: Period, start: dt.date | None, end: dt.date | None) -> Fraction:
    """Share of the period's days inside [start, end], exact."""
    return Fraction(period.overlap_days(start, end), period.days)


def covered_days(
    period: Period,
    spans: Iterable[tuple[dt.date, dt.date | None]],
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> int:
    """Days of the period inside [start, end] that at least one of ``spans`` covers.

    Spans are inclusive (start, end-or-None) date ranges — occupancies, say — and may
    overlap or touch: a day counts once however many spans cover it.
    """
    lo = max(period.start, start) if start else period.start
    hi = min(period.end, end) if end else period.end
    clipped = sorted(
        (max(lo, s), min(hi, e) if e else hi) for s, e in spans
    )
    days, reached = 0, lo - dt.timedelta(days=1)  # last day already counted
    for s, e in clipped:
        s = max(s, reached + dt.timedelta(days=1))
        if s <= e:
            days += (e - s).days + 1
            reached = e
    return days
