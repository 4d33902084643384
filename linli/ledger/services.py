"""Posting to the ledger. The only way money movements are recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.ledger.chart import CHART
from linli.ledger.models import JournalEntry, JournalLine, lines_digest


class PostingError(ValueError):
    """An entry that must not be posted (unbalanced, unknown account, bad amount)."""


@dataclass(frozen=True)
class Line:
    """One side of a posting. ``amount_fen`` is positive; ``side`` is "D" or "C"."""

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


def validate_lines(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise PostingError(_("An entry needs at least two lines."))
    debit_fen = credit_fen = 0
    for line in lines:
        account = CHART.get(line.account)
        if account is None:
            raise PostingError(_("Unknown account %(code)s.") % {"code": line.account})
        if isinstance(line.amount_fen, bool) or not isinstance(line.amount_fen, int):
            raise PostingError(_("Amounts are whole fen."))
        if line.amount_fen <= 0:
            raise PostingError(_("Every line amount must be greater than zero."))
        if account.needs_unit and not line.unit_id:
            raise PostingError(
                _("Account %(code)s needs a unit.") % {"code": line.account}
            )
        if line.side == JournalLine.DEBIT:
            debit_fen += line.amount_fen
        elif line.side == JournalLine.CREDIT:
            credit_fen += line.amount_fen
        else:
            raise PostingError(_("A line is either a debit or a credit."))
    if debit_fen != credit_fen:
        raise PostingError(
            _("Unbalanced entry: debits %(d)s fen, credits %(c)s fen.")
            % {"d": debit_fen, "c": credit_fen}
        )


def post_entry(
    *,
    community_id: int,
    business_key: str,
    kind: str,
    lines: Sequence[Line],
    effective_on: dt.date | None = None,
    memo: str = "",
    posted_by=None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced entry, or return the entry already posted under ``business_key``.

    Posting the same key with different lines is an error, not a silent no-op: it means
    two pieces of code disagree about what happened.
    """
    validate_lines(lines)
    existing = JournalEntry.objects.filter(business_key=business_key).first()
    if existing is not None:
        return _same_or_conflict(existing, lines)
    try:
        with transaction.atomic():
            entry = JournalEntry(
                community_id=community_id,
                business_key=business_key,
                kind=kind,
                memo=memo[:255],
                effective_on=effective_on or timezone.localdate(),
                posted_by=posted_by if getattr(posted_by, "pk", None) else None,
                reverses=reverses,
                digest=lines_digest(_as_models(lines, None, community_id)),
            )
            entry.save()
            JournalLine.objects.bulk_create(_as_models(lines, entry, community_id))
    except IntegrityError:
        # Someone posted the same key between our look-up and our insert.
        existing = JournalEntry.objects.filter(business_key=business_key).first()
        if existing is None:
            raise
        return _same_or_conflict(existing, lines)
    return entry


def _as_models(lines: Sequence[Line], entry, community_id: int) -> list[JournalLine]:
    return [
        JournalLine(
            entry=entry,
            account=line.account,
            side=line.side,
            amount_fen=line.amount_fen,
            community_id=community_id,
            unit_id=line.unit_id,
            fee_item_ref=line.fee_item_id,
        )
        for line in lines
    ]


def _same_or_conflict(existing: JournalEntry, lines: Sequence[Line]) -> JournalEntry:
    wanted = lines_digest(_as_models(lines, None, existing.community_id))
    if wanted != existing.digest:
        raise PostingError(
            _("Business key %(key)s was already posted with different lines.")
            % {"key": existing.business_key}
        )
    return existing


def reverse_entry(
    *, entry: JournalEntry, memo: str = "", posted_by=None, effective_on: dt.date | None = None
) -> JournalEntry:
    """Post the mirror image of ``entry`` (debits become credits). Idempotent: reversing
    an entry twice returns the first reversal."""
    if entry.reverses_id is not None:
        raise PostingError(_("A reversal is not reversed; post a new entry instead."))
    mirrored = [
        Line(
            account=line.account,
            side=JournalLine.CREDIT if line.side == JournalLine.DEBIT else JournalLine.DEBIT,
            amount_fen=line.amount_fen,
            unit_id=line.unit_id,
            fee_item_id=line.fee_item_ref,
        )
        for line in entry.lines.order_by("id")
    ]
    return post_entry(
        community_id=entry.community_id,
        business_key=f"reversal:{entry.business_key}"[:120],
        kind=f"reversal:{entry.kind}"[:40],
        lines=mirrored,
        effective_on=effective_on,
        memo=memo or f"Reversal of #{entry.pk}",
        posted_by=posted_by,
        reverses=entry,
    )
