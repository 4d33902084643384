"""Money: integer fen everywhere; yuan strings only at the edges.

Rules (DESIGN §3):
- an amount of money is an ``int`` of fen (分) and its name ends in ``_fen``;
- prices, rates and quantities are ``Decimal``; a product is computed at full
  precision and rounded to the fen once, ROUND_HALF_UP;
- a ``float`` is refused wherever money enters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

FEN_PER_YUAN = 100
_ONE_FEN = Decimal("0.01")
_YUAN_RE = re.compile(r"^(?P<sign>-)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?$")


class MoneyError(ValueError):
    """Input that is not a valid amount of money (message is user-facing)."""


def _refuse_float(value: object) -> None:
    if isinstance(value, float):
        raise TypeError("money must never pass through float")


def parse_yuan(text: str | Decimal | int) -> int:
    """Parse a yuan amount as a person writes it and return fen.

    Accepts ``"1234.5"``, ``"¥1,234.50"``, ``"-3"``, ``"１２"`` (full-width digits),
    ``Decimal("1.25")`` and ints (taken as yuan). More than two decimals is an error,
    not a silent rounding: the caller meant something we cannot know.
    """
    _refuse_float(text)
    if isinstance(text, bool):
        raise MoneyError(_("Not an amount of money."))
    if isinstance(text, int):
        return text * FEN_PER_YUAN
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise MoneyError(_("Not an amount of money."))
        if text != text.quantize(_ONE_FEN):
            raise MoneyError(_("An amount has at most two decimal places (fen)."))
        return int(text * FEN_PER_YUAN)
    cleaned = _normalise(str(text))
    match = _YUAN_RE.match(cleaned)
    if not match:
        if re.match(r"^-?[\d,]+\.\d{3,}$", cleaned):
            raise MoneyError(_("An amount has at most two decimal places (fen)."))
        raise MoneyError(_("“%(text)s” is not an amount of money.") % {"text": text})
    whole = int(match["int"].replace(",", ""))
    frac = int((match["frac"] or "0").ljust(2, "0"))
    fen = whole * FEN_PER_YUAN + frac
    return -fen if match["sign"] else fen


def _normalise(text: str) -> str:
    # Full-width digits and punctuation come from Chinese input methods.
    table = {ord("０") + i: ord("0") + i for i in range(10)}
    table.update({ord("，"): ord(","), ord("．"): ord("."), ord("－"): ord("-")})
    text = text.translate(table).strip()
    for token in ("¥", "￥", "元", "RMB", "CNY", " "):
        text = text.replace(token, "")
    if text.startswith("-"):
        return "-" + text[1:].lstrip()
    return text


def format_fen(amount_fen: int, *, symbol: bool = True, grouping: bool = True) -> str:
    """``123450`` → ``"¥1,234.50"``; negative amounts get a leading minus."""
    _check_fen(amount_fen)
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{'¥' if symbol else ''}{whole_text}.{frac:02d}"


def fen_to_yuan_str(amount_fen: int) -> str:
    """Wire format for gateways that speak yuan (Alipay): ``"1234.50"``."""
    return format_fen(amount_fen, symbol=False, grouping=False)


def fen_to_decimal(amount_fen: int) -> Decimal:
    _check_fen(amount_fen)
    return Decimal(amount_fen) / FEN_PER_YUAN


def round_to_fen(amount_yuan: Decimal) -> int:
    """Round an exact yuan amount to fen, once, ROUND_HALF_UP (away from zero on .5)."""
    _refuse_float(amount_yuan)
    if not isinstance(amount_yuan, Decimal):
        raise TypeError("round_to_fen takes a Decimal amount in yuan")
    try:
        return int((amount_yuan * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:  # NaN, infinity
        raise MoneyError(_("Not an amount of money.")) from exc


def price_times(price_yuan: Decimal, quantity: Decimal) -> int:
    """A bill line: unit price (yuan) × quantity at full precision, rounded once to fen."""
    _refuse_float(price_yuan)
    _refuse_float(quantity)
    return round_to_fen(Decimal(price_yuan) * Decimal(quantity))


def split_fen(total_fen: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights``; the parts always sum to the total.

    Largest-remainder method: every part is within one fen of its exact share, and
    ties go to the earlier part so the result is deterministic.
    """
    _check_fen(total_fen)
    if not weights:
        raise ValueError("nothing to split into")
    for weight in weights:
        _refuse_float(weight)
        if weight < 0:
            raise ValueError("weights must not be negative")
    weight_sum = sum(Decimal(w) for w in weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    exact = [Decimal(magnitude) * Decimal(w) / weight_sum for w in weights]
    parts = [int(e) for e in exact]  # floor: values are non-negative
    remainder = magnitude - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:remainder]:
        parts[i] += 1
    return [sign * p for p in parts]


def _check_fen(amount_fen: object) -> None:
    _refuse_float(amount_fen)
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError("an amount in fen is an int")
