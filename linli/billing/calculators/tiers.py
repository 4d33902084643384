"""Tiered (阶梯) pricing for metered usage: 0–10 t at one price, the rest at another."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # cumulative upper bound of this tier; None = no limit
    price: Decimal


def validate_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise ValueError("at least one tier")
    last = Decimal(0)
    for i, tier in enumerate(tiers):
        if tier.price < 0:
            raise ValueError("tier prices must not be negative")
        if tier.up_to is None:
            if i != len(tiers) - 1:
                raise ValueError("only the last tier is open-ended")
            continue
        if tier.up_to <= last:
            raise ValueError("tier bounds must increase")
        last = tier.up_to
    if tiers[-1].up_to is not None:
        raise ValueError("the last tier must be open-ended")


def tiered_amount(usage: Decimal, tiers: tuple[Tier, ...]) -> tuple[Decimal, list[dict]]:
    """Exact yuan for ``usage`` across the tiers, and the per-tier breakdown."""
    validate_tiers(tiers)
    remaining, lower, total, parts = usage, Decimal(0), Decimal(0), []
    for tier in tiers:
        if remaining <= 0:
            break
        width = remaining if tier.up_to is None else min(remaining, tier.up_to - lower)
        total += width * tier.price
        parts.append({"from": str(lower), "quantity": str(width), "price": str(tier.price)})
        remaining -= width
        lower = tier.up_to if tier.up_to is not None else lower
    return total, parts
