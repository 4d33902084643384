"""Template filters of the owner portal."""

from decimal import Decimal

from django import template

from linli.money import format_fen

register = template.Library()


@register.filter
def yuan(amount_fen) -> str:
    """Integer fen → "¥1,234.50" (``linli.money.format_fen``)."""
    if amount_fen is None or amount_fen == "":
        return ""
    return format_fen(int(amount_fen))


@register.filter
def qty(value) -> str:
    """A Decimal quantity without trailing zeros: 88.50 → "88.5", 12.000 → "12"."""
    if value is None or value == "":
        return ""
    text = format(Decimal(value).normalize(), "f")
    return text


@register.filter
def price(value) -> str:
    """A unit price with 2 to 4 decimals: 2.5000 → "2.50", 0.5283 → "0.5283"."""
    if value is None or value == "":
        return ""
    text = qty(value)
    whole, _dot, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"
