"""Alipay amounts: integer fen ↔ yuan strings with 2 decimals, exact (``Decimal``)."""

from __future__ import annotations

import re
from decimal import Decimal

_YUAN_RE = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


def fen_to_yuan(amount_fen: int) -> str:
    """12345 → "123.45" (exact, Decimal)."""
    if type(amount_fen) is not int:
        raise TypeError("amount_fen must be an int")
    return str((Decimal(amount_fen) / 100).quantize(Decimal("0.01")))


def yuan_to_fen(text: object) -> int:
    """ "123.45" → 12345; ValueError for anything that is not a plain yuan string."""
    if not isinstance(text, str) or not _YUAN_RE.match(text):
        raise ValueError(f"not a yuan amount: {text!r}")
    return int(Decimal(text) * 100)
