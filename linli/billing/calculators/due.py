"""Due dates: N days after the period starts or ends (fees billed in arrears, such as
water, fall due after the period they charge for), or a fixed day of the period's first
month."""

from __future__ import annotations

import calendar
import datetime as dt

from linli.billing.calculators.periods import Period


def due_date(period: Period, *, rule: str, days: int = 0, day_of_month: int = 1) -> dt.date:
    if rule == "days_after_start":
        return period.start + dt.timedelta(days=days)
    if rule == "days_after_end":
        return period.end + dt.timedelta(days=days)
    if rule == "day_of_month":
        last = calendar.monthrange(period.start.year, period.start.month)[1]
        return period.start.replace(day=min(day_of_month, last))
    raise ValueError(f"unknown due rule {rule!r}")
