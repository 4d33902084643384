"""Money: integer fen everywhere; yuan strings only at the edges.

Rules (DESIGN §3):
- an amount of money is an ``int`` of fen (分) and its name ends in ``_fen``;
- prices, rates and quantities are ``Decimal``; a product is computed at full
  precision and rounded to the fen once, ROUND_HALF_UP;
- a ``float`` is refused wherever money enters.

Decimal arithmetic is context-bound (28 significant digits by default), so a plain
``a * b`` or ``x * 100`` may round silently before *our* rounding and turn one
rounding into two. Everything here is exact until the single ROUND_HALF_UP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext
from fractions import Fraction

from django.utils.translation import gettext as _

FEN_PER_YUAN = 100
# ASCII digits only: ``\d`` would also take Arabic-Indic or Devanagari digits.
_YUAN_RE = re.compile(
    r"(?P<sign>-)?(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?"
)
_TOO_PRECISE_RE = re.compile(r"-?[0-9,]+\.[0-9]{3,}")
# Full-width digits and punctuation come from Chinese input methods.
_FULL_WIDTH = {ord("０") + i: ord("0") + i for i in range(10)} | {
    ord("，"): ord(","),
    ord("．"): ord("."),
    ord("－"): ord("-"),
    ord("\u3000"): ord(" "),
}
_DECORATIONS = ("¥", "￥", "元", "RMB", "CNY", " ")


class MoneyError(ValueError):
    """Input that is not a valid amount of money (message is user-facing)."""


def _refuse_float(value: object) -> None:
    if isinstance(value, float):
        raise TypeError("money must never pass through float")


def _require_decimal(value: object, what: str) -> Decimal:
    """Decimal or int in; anything else (float, str, bool) is a programming error."""
    _refuse_float(value)
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise MoneyError(_("Not an amount of money."))
    return value


def _shift(value: Decimal, places: int) -> Decimal:
    """``value × 10**places``, exactly (no context precision, no rounding)."""
    sign, digits, exponent = value.as_tuple()
    return Decimal((sign, digits, exponent + places))


def parse_yuan(text: str | Decimal | int) -> int:
    """Parse a yuan amount as a person writes it and return fen.

    Accepts ``"1234.5"``, ``"¥1,234.50"``, ``"-3"``, ``"１２"`` (full-width digits),
    ``"12元"``, ``Decimal("1.25")`` and ints (taken as yuan). More than two decimals
    is an error, not a silent rounding: the caller meant something we cannot know.
    """
    _refuse_float(text)
    if isinstance(text, bool):
        raise MoneyError(_("Not an amount of money."))
    if isinstance(text, int):
        return text * FEN_PER_YUAN
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise MoneyError(_("Not an amount of money."))
        fen = _shift(text, 2)
        whole_fen = int(fen)
        if whole_fen != fen:
            raise MoneyError(_("An amount has at most two decimal places (fen)."))
        return whole_fen
    if not isinstance(text, str):
        raise TypeError(f"parse_yuan takes str, Decimal or int, not {type(text).__name__}")
    cleaned = _normalise(text)
    match = _YUAN_RE.fullmatch(cleaned)
    if not match:
        if _TOO_PRECISE_RE.fullmatch(cleaned):
            raise MoneyError(_("An amount has at most two decimal places (fen)."))
        raise MoneyError(_("“%(text)s” is not an amount of money.") % {"text": text})
    whole = int(match["int"].replace(",", ""))
    frac = int((match["frac"] or "0").ljust(2, "0"))
    fen = whole * FEN_PER_YUAN + frac
    return -fen if match["sign"] else fen


def _normalise(text: str) -> str:
    text = text.translate(_FULL_WIDTH).strip()
    for token in _DECORATIONS:
        text = text.replace(token, "")
    return text


def format_fen(amount_fen: int, *, symbol: bool = True, grouping: bool = True) -> str:
    """``123450`` → ``"¥1,234.50"``; negative amounts get a leading minus: ``"-¥0.05"``."""
    _check_fen(amount_fen)
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{'¥' if symbol else ''}{whole_text}.{frac:02d}"


def plain_number(number) -> str:
    """A decimal's text without trailing zeros: 5.0000 → 5, 12.50 → 12.5 (quantities)."""
    number = str(number)
    return number.rstrip("0").rstrip(".") if "." in number else number


def format_price(price) -> str:
    """A unit price as people write it: two decimals, more only where it has them.

    2.3000 → 2.30, 300 → 300.00, 0.6250 → 0.625. Prices are stored to four places; one
    read through a subquery may come back from SQLite with float noise
    (2.30000000000000), so it is cut to those first.
    """
    if isinstance(price, float):
        raise TypeError("money must never pass through float")
    places = Decimal(str(price)).quantize(Decimal("0.0001"))
    text = plain_number(places)
    return text if len(text.partition(".")[2]) >= 2 else f"{places:.2f}"


def fen_to_yuan_str(amount_fen: int) -> str:
    """Wire format for gateways that speak yuan (Alipay): ``"1234.50"``."""
    return format_fen(amount_fen, symbol=False, grouping=False)


def fen_to_decimal(amount_fen: int) -> Decimal:
    """``123450`` → ``Decimal("1234.50")``, exactly."""
    _check_fen(amount_fen)
    return _shift(Decimal(amount_fen), -2)


def round_to_fen(amount_yuan: Decimal) -> int:
    """Round an exact yuan amount to fen, once, ROUND_HALF_UP (away from zero on .5).

    ``Decimal("0.005")`` → 1, ``Decimal("0.0049")`` → 0, ``Decimal("-0.005")`` → -1.
    """
    _refuse_float(amount_yuan)
    if isinstance(amount_yuan, bool) or not isinstance(amount_yuan, Decimal):
        raise TypeError("round_to_fen takes a Decimal amount in yuan")
    if not amount_yuan.is_finite():
        raise MoneyError(_("Not an amount of money."))
    # to_integral_value rounds exactly, whatever the context's precision.
    return int(_shift(amount_yuan, 2).to_integral_value(rounding=ROUND_HALF_UP))


def round_fraction_to_fen(amount_yuan: Fraction) -> int:
    """Round an exact rational yuan amount (prices × areas × day fractions) to fen, once,
    ROUND_HALF_UP. Used where a factor such as 14/31 of a month has no finite decimal."""
    if not isinstance(amount_yuan, Fraction):
        raise TypeError("round_fraction_to_fen takes a Fraction amount in yuan")
    fen = amount_yuan * FEN_PER_YUAN
    sign = -1 if fen < 0 else 1
    return sign * int(abs(fen) + Fraction(1, 2))  # int() truncates: floor for ≥ 0


def price_times(price_yuan: Decimal, quantity: Decimal) -> int:
    """A bill line: unit price (yuan) × quantity at full precision, rounded once to fen."""
    price = _require_decimal(price_yuan, "a price")
    qty = _require_decimal(quantity, "a quantity")
    return round_to_fen(_exact_product(price, qty))


def _exact_product(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        # The product of an m-digit and an n-digit coefficient has at most m + n digits.
        ctx.prec = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 1
        ctx.traps[Inexact] = True
        return a * b


def split_fen(total_fen: int, weights: Sequence[int | Decimal]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights``; the parts always sum to the total.

    Largest-remainder method on exact fractions: every part is within one fen of its
    exact share, and ties go to the earlier part so the result is deterministic.
    """
    _check_fen(total_fen)
    weights = list(weights)
    if not weights:
        raise ValueError("nothing to split into")
    exact_weights = []
    for weight in weights:
        weight = _require_decimal(weight, "a weight")
        if weight < 0:
            raise ValueError("weights must not be negative")
        exact_weights.append(Fraction(weight))
    weight_sum = sum(exact_weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    shares = [magnitude * w / weight_sum for w in exact_weights]
    parts = [s.numerator // s.denominator for s in shares]  # floor: shares are ≥ 0
    remainder = magnitude - sum(parts)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:remainder]:
        parts[i] += 1
    return [sign * p for p in parts]


def _check_fen(amount_fen: object) -> None:
    _refuse_float(amount_fen)
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError("an amount in fen is an int")
