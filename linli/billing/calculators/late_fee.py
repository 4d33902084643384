"""Late fees (滞纳金): a daily rate on the unpaid principal after grace days, capped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from linli.money import round_fraction_to_fen


@dataclass(frozen=True)
class LateFeeRule:
    daily_rate: Decimal  # e.g. Decimal("0.0005") = 0.05 % per day
    grace_days: int = 0
    cap_fen: int | None = None  # absolute cap; the principal is always a cap too


def overdue_days(due_date: dt.date, as_of: dt.date, grace_days: int) -> int:
    """Days charged: counted from the day after due + grace, up to and including as_of."""
    return max(0, (as_of - due_date).days - grace_days)


def late_fee_fen(*, principal_fen: int, due_date: dt.date, as_of: dt.date, rule: LateFeeRule) -> int:
    if principal_fen <= 0 or rule.daily_rate <= 0:
        return 0
    days = overdue_days(due_date, as_of, rule.grace_days)
    if days == 0:
        return 0
    fee_fen = round_fraction_to_fen(Fraction(principal_fen, 100) * Fraction(rule.daily_rate) * days)
    caps = [principal_fen] + ([rule.cap_fen] if rule.cap_fen is not None else [])
    return min(fee_fen, *caps)
