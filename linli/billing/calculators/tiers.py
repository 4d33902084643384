"""Tiered (阶梯) pricing for metered usage: 0–10 t at one price, the rest at another."""

from __future__ import annotations

import re
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


# Staff type tiers as text, one tier per line: "10 3.50" is "up to 10 at 3.50"; the last line
# is the price alone (or "以上 5.60"), which takes all usage above the others.
OPEN_BOUNDS = {"", "-", "*", "以上", "及以上", "above"}
_LINE_BREAK = re.compile(r"[\n;；]+")
_SEPARATORS = re.compile(r"[\s:：,，=]+")


class TierTextError(ValueError):
    def __init__(self, line_no: int, line: str):
        super().__init__(line_no, line)
        self.line_no, self.line = line_no, line


def tiers_from_text(text: str) -> list[dict]:
    """``"10 3.50\\n20 4.20\\n5.60"`` → bounds and prices as strings, the last one open
    (``up_to`` None); the values are checked where the tiers are saved. Raises
    TierTextError for a line that is not "bound price" or "price"."""
    tiers = []
    lines = [line.strip() for line in _LINE_BREAK.split(text or "")]
    for line_no, line in enumerate((line for line in lines if line), start=1):
        parts = [p for p in _SEPARATORS.split(line) if p]
        if len(parts) == 1:
            parts = ["", parts[0]]
        if len(parts) != 2:
            raise TierTextError(line_no, line)
        bound, price = parts
        tiers.append({"up_to": None if bound.lower() in OPEN_BOUNDS else bound, "price": price})
    return tiers


def tiers_to_text(tiers) -> str:
    """The inverse of tiers_from_text, for showing stored tiers in the form."""
    if not isinstance(tiers, list):
        return "" if tiers in (None, "") else str(tiers)
    return "\n".join(
        t.get("price", "") if t.get("up_to") in (None, "") else f"{t['up_to']} {t.get('price', '')}"
        for t in tiers if isinstance(t, dict)
    )
