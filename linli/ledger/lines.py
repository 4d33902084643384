"""A ledger line as posting rules make it and ``post_entry`` takes it."""

from __future__ import annotations

from typing import NamedTuple

from linli.ledger.models import JournalLine


class Line(NamedTuple):
    """One side of a posting. ``amount_fen`` is positive; ``side`` is "D" or "C".

    A named tuple, not a dataclass: a bill run makes one per bill (a quarter of a million
    for a large community), and a frozen dataclass costs several times more to create."""

    account: str
    side: str
    amount_fen: int
    unit_id: int | None = None
    fee_item_id: int | None = None

    @classmethod
    def debit(cls, account: str, amount_fen: int, **dims) -> Line:
        return cls(account, JournalLine.DEBIT, amount_fen, **dims)

    @classmethod
    def credit(cls, account: str, amount_fen: int, **dims) -> Line:
        return cls(account, JournalLine.CREDIT, amount_fen, **dims)
