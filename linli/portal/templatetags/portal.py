"""Template filters and tags of the owner portal."""

from decimal import Decimal
from functools import lru_cache

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf
from django.utils.translation import get_language

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


@register.simple_tag
def portal_nav(nav) -> str:
    """The bottom navigation (portal/_nav.html) with ``nav`` marked active. Its four URLs
    and labels are the same on every page, so it is rendered once per language, active
    item and URL configuration in each process instead of on every page."""
    return _nav(get_language(), str(nav or ""), get_script_prefix(), get_urlconf())


@lru_cache(maxsize=64)
def _nav(_language: str, nav: str, _prefix: str, _urlconf) -> str:
    return render_to_string("portal/_nav.html", {"nav": nav})
