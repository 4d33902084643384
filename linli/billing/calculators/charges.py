"""Charge lines: what one unit or parking space owes for one fee item and period.

The whole line is computed as an exact fraction — price × basis × months × the share of
days billed, of which the vacant days count at the vacancy percentage — and rounded to
the fen once, ROUND_HALF_UP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from linli.billing.calculators.tiers import Tier, tiered_amount
from linli.money import round_fraction_to_fen

ONE = Decimal(1)


@dataclass(frozen=True)
class ChargeInput:
    """Everything the calculator needs, already read from the database.

    ``unit_price`` is yuan per month per basis unit (unit, space or m²) for recurring
    methods, yuan per usage unit for metered ones, yuan per charge for one-off ones.
    ``proration`` is the share of the period's days billed, exact (``Fraction(14, 31)``).
    ``vacant_share`` is the share of the period's days, among those billed, on which the
    unit stood vacant and pays ``vacancy_percent``; None = every billed day (a unit
    vacant all along). Without a ``vacancy_percent`` vacant days pay in full.
    """

    method: str
    unit_price: Decimal
    months: int = 1
    area: Decimal | None = None
    usage: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    proration: Fraction | Decimal = Fraction(1)
    vacancy_percent: Decimal | None = None  # percentage a vacant unit pays, None = full
    vacant_share: Fraction | Decimal | None = None


@dataclass(frozen=True)
class ChargeLine:
    amount_fen: int
    quantity: Decimal
    unit_price: Decimal
    detail: dict = field(default_factory=dict)


class ChargeError(ValueError):
    """The charge cannot be computed (missing area, usage, price); a preview warning."""


def _exact(value) -> Fraction:
    if isinstance(value, float):
        raise TypeError("money must never pass through float")
    return Fraction(value)


def compute_charge(charge: ChargeInput) -> ChargeLine:
    quantity, exact_yuan, detail = _base(charge)
    factor = _exact(charge.proration)
    if factor != 1:
        detail["proration"] = f"{factor.numerator}/{factor.denominator}"
    if charge.vacancy_percent is not None:
        factor = _with_vacancy(factor, charge, detail)
    # The one rounding of this line.
    return ChargeLine(round_fraction_to_fen(exact_yuan * factor), quantity, charge.unit_price,
                      detail)


def _with_vacancy(billed: Fraction, charge: ChargeInput, detail: dict) -> Fraction:
    """The share of the period charged once vacant days pay only the vacancy percentage."""
    vacant = billed if charge.vacant_share is None else _exact(charge.vacant_share)
    if not 0 <= vacant <= billed:
        raise ChargeError("vacant days outside the days billed")
    if vacant == 0:
        return billed
    detail["vacancy_percent"] = str(charge.vacancy_percent)
    if vacant != billed:
        detail["vacant_share"] = f"{vacant.numerator}/{vacant.denominator}"
    return billed - vacant + vacant * _exact(charge.vacancy_percent) / 100


def _base(charge: ChargeInput) -> tuple[Decimal, Fraction, dict]:
    price = _exact(charge.unit_price) if charge.unit_price is not None else None
    if price is None or price < 0:
        raise ChargeError("no valid price")
    method = charge.method
    if method in ("fixed_unit", "fixed_space"):
        return ONE, price * charge.months, {"months": charge.months}
    if method in ("building_area", "usable_area"):
        if not charge.area or charge.area <= 0:
            raise ChargeError("no area")
        exact = price * _exact(charge.area) * charge.months
        return charge.area, exact, {"months": charge.months, "area": str(charge.area)}
    if method == "metered":
        if charge.usage is None or charge.usage < 0:
            raise ChargeError("no usage")
        if charge.tiers:
            amount, parts = tiered_amount(charge.usage, charge.tiers)
            return charge.usage, _exact(amount), {"tiers": parts}
        return charge.usage, price * _exact(charge.usage), {}
    if method == "one_off":
        return ONE, price, {}
    raise ChargeError(f"unknown method {method!r}")
