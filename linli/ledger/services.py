"""Posting to the ledger. The only way money movements are recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.bulk import insert_rows
from linli.estate.models import Unit
from linli.ledger.chart import CHART
from linli.ledger.lines import Line
from linli.ledger.models import JournalEntry, JournalLine, rows_digest
from linli.ledger.postings import mirrored

BUSINESS_KEY_MAX = JournalEntry._meta.get_field("business_key").max_length
KIND_MAX = JournalEntry._meta.get_field("kind").max_length
MEMO_MAX = JournalEntry._meta.get_field("memo").max_length


def book_memo(message, **params) -> str:
    """A memo written in the books' language (the site's default, Chinese), whichever
    language the request that posts it speaks: the journal is one record, and everyone reads
    the same words in it. ``message`` is a lazy translation; lazy labels among ``params``
    (a channel's name) are rendered in the same language."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(message) % {k: str(v) for k, v in params.items()} if params else str(message)


class PostingError(ValueError):
    """An entry that must not be posted (unbalanced, unknown account, bad amount)."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_line(line: Line) -> None:
    account = CHART.get(line.account)
    if account is None:
        raise PostingError(_("Unknown account %(code)s.") % {"code": line.account})
    if not _is_int(line.amount_fen):
        raise PostingError(_("Amounts are whole fen."))
    if line.amount_fen <= 0:
        raise PostingError(_("Every line amount must be greater than zero."))
    if line.side not in (JournalLine.DEBIT, JournalLine.CREDIT):
        raise PostingError(_("A line is either a debit or a credit."))
    for dim in (line.unit_id, line.fee_item_id):
        if dim is not None and not _is_int(dim):
            raise PostingError(_("A unit or fee item is given by its id."))
    if account.needs_unit and line.unit_id is None:
        raise PostingError(_("Account %(code)s needs a unit.") % {"code": line.account})
    if account.needs_fee_item and line.fee_item_id is None:
        raise PostingError(_("Account %(code)s needs a fee item.") % {"code": line.account})


_SIDES = (JournalLine.DEBIT, JournalLine.CREDIT)


def validate_lines(lines: Sequence[Line]) -> None:
    """Refuse what must never reach the journal; touches no database.

    A bill run's entry has thousands of lines, so each is first tested in one expression
    for what a good line is; only a line that fails it goes through ``_validate_line``,
    which names what is wrong (and still accepts an ``int`` subclass other than bool)."""
    if len(lines) < 2:
        raise PostingError(_("An entry needs at least two lines."))
    debit_fen = credit_fen = 0
    chart_get, debit_side, sides = CHART.get, JournalLine.DEBIT, _SIDES
    for line in lines:
        code, side, amount_fen, unit_id, fee_item_id = line
        account = chart_get(code)
        if not (
            account is not None and type(amount_fen) is int and amount_fen > 0
            and side in sides
            and (type(unit_id) is int if unit_id is not None else not account.needs_unit)
            and (type(fee_item_id) is int if fee_item_id is not None
                 else not account.needs_fee_item)
        ):
            _validate_line(line)
        if side == debit_side:
            debit_fen += amount_fen
        else:
            credit_fen += amount_fen
    if debit_fen != credit_fen:
        raise PostingError(
            _("Unbalanced entry: debits %(d)s fen, credits %(c)s fen.")
            % {"d": debit_fen, "c": credit_fen}
        )


def _validate_header(*, community_id: int, business_key: str, kind: str) -> None:
    if not _is_int(community_id):
        raise PostingError(_("An entry belongs to a community, given by its id."))
    if not isinstance(business_key, str) or not business_key.strip():
        raise PostingError(_("An entry needs a business key."))
    if len(business_key) > BUSINESS_KEY_MAX:
        raise PostingError(
            _("A business key has at most %(n)s characters.") % {"n": BUSINESS_KEY_MAX}
        )
    if not isinstance(kind, str) or not kind or len(kind) > KIND_MAX:
        raise PostingError(
            _("An entry needs a kind of at most %(n)s characters.") % {"n": KIND_MAX}
        )


def _validate_units(lines: Sequence[Line], community_id: int) -> None:
    """A line's unit must be in the entry's community: balances are kept per community."""
    unit_ids = {line.unit_id for line in lines if line.unit_id is not None}
    if not unit_ids:
        return
    missing = sorted(unit_ids - _units_in(community_id, unit_ids))
    if missing:
        raise PostingError(
            _("Unit %(unit)s is not in this community.") % {"unit": missing[0]}
        )


_IN_LIST_MAX = 10_000  # placeholders per query on SQLite (its limit is 32,766)


def _units_in(community_id: int, unit_ids: set[int]) -> set[int]:
    """Which of ``unit_ids`` are units of the community.

    On PostgreSQL one array parameter: an IN list of 5,000 placeholders (a bill run's
    entry) costs ~90 ms to bind and parse there, the array ~8 ms. It counts first — one
    row back instead of thousands — and lists the ids only when some are missing. SQLite
    takes the IN list in its stride.
    """
    table = connection.ops.quote_name(Unit._meta.db_table)
    if connection.vendor == "postgresql":
        # The array as one text literal: the driver's per-element dumping of a list of
        # thousands of ints costs more than the query.
        where = f"FROM {table} WHERE community_id = %s AND id = ANY(%s::bigint[])"
        params = [community_id, "{" + ",".join(map(str, unit_ids)) + "}"]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) {where}", params)
            if cursor.fetchone()[0] == len(unit_ids):
                return unit_ids
            cursor.execute(f"SELECT id {where}", params)
            return {row[0] for row in cursor.fetchall()}
    ids = sorted(unit_ids)
    sql = f"SELECT id FROM {table} WHERE community_id = %s AND "
    found: set[int] = set()
    with connection.cursor() as cursor:
        for part in (ids[i:i + _IN_LIST_MAX] for i in range(0, len(ids), _IN_LIST_MAX)):
            cursor.execute(sql + f"id IN ({', '.join(['%s'] * len(part))})",
                           [community_id, *part])
            found.update(row[0] for row in cursor.fetchall())
    return found


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

    Posting the same key with different lines (or for another community, or of another
    kind) is an error, not a silent no-op: it means two pieces of code disagree about
    what happened. Line order does not matter.
    """
    lines = list(lines)
    _validate_header(community_id=community_id, business_key=business_key, kind=kind)
    validate_lines(lines)
    existing = _existing(business_key)
    if existing is not None:
        return _same_or_conflict(existing, lines, community_id=community_id, kind=kind)
    _validate_units(lines, community_id)
    rows = _rows(lines, community_id)
    try:
        with transaction.atomic():
            entry = JournalEntry(
                community_id=community_id,
                business_key=business_key,
                kind=kind,
                memo=memo[:MEMO_MAX],
                effective_on=effective_on or timezone.localdate(),
                posted_by=posted_by if getattr(posted_by, "pk", None) else None,
                reverses=reverses,
                digest=rows_digest(rows),
            )
            entry.save()
            _insert_lines(entry, rows)
    except IntegrityError:
        # Someone posted the same key between our look-up and our insert; the unique
        # constraint on business_key is the last line of defence.
        existing = _existing(business_key)
        if existing is None:
            raise
        return _same_or_conflict(existing, lines, community_id=community_id, kind=kind)
    return entry


def _existing(business_key: str) -> JournalEntry | None:
    return JournalEntry.objects.filter(business_key=business_key).first()


def _rows(lines: Sequence[Line], community_id: int) -> list[tuple]:
    """Lines as they are stored, minus their entry: (account, side, amount_fen,
    community_id, unit_id, fee_item_ref), what ``rows_digest`` reads."""
    return [
        (account, side, amount_fen, community_id, unit_id, fee_item_id)
        for account, side, amount_fen, unit_id, fee_item_id in lines
    ]


# From this many lines on, an entry's lines are written with ``linli.core.bulk`` (COPY
# on PostgreSQL, one executemany on SQLite) rather than as model instances: a bill run's
# entry has thousands. Both store the same rows.
BULK_LINES = 100
_LINE_FIELDS = ("entry", "account", "side", "amount_fen", "community", "unit", "fee_item_ref")


def _insert_lines(entry: JournalEntry, rows: Sequence[tuple]) -> None:
    if len(rows) >= BULK_LINES:
        head = (entry.pk,)
        insert_rows(JournalLine, _LINE_FIELDS, (head + row for row in rows))
        return
    JournalLine.objects.bulk_create([
        JournalLine(
            entry=entry, account=account, side=side, amount_fen=amount_fen,
            community_id=community, unit_id=unit_id, fee_item_ref=fee_item_ref,
        )
        for account, side, amount_fen, community, unit_id, fee_item_ref in rows
    ])


def _same_or_conflict(
    existing: JournalEntry, lines: Sequence[Line], *, community_id: int, kind: str
) -> JournalEntry:
    wanted = rows_digest(_rows(lines, community_id))
    if (
        wanted != existing.digest
        or existing.community_id != community_id
        or existing.kind != kind
    ):
        raise PostingError(
            _("Business key %(key)s was already posted with different lines.")
            % {"key": existing.business_key}
        )
    return existing


def _reversal_key(entry: JournalEntry) -> str:
    key = f"reversal:{entry.business_key}"
    # Cutting a long key short could make two entries share one reversal key.
    return key if len(key) <= BUSINESS_KEY_MAX else f"reversal:#{entry.pk}"


def reverse_entry(
    *, entry: JournalEntry, memo: str = "", posted_by=None, effective_on: dt.date | None = None
) -> JournalEntry:
    """Post the mirror image of ``entry`` (debits become credits). Idempotent: reversing
    an entry twice returns the first reversal. A reversal itself is never reversed."""
    if entry.reverses_id is not None:
        raise PostingError(_("A reversal is not reversed; post a new entry instead."))
    already = JournalEntry.objects.filter(reverses_id=entry.pk).first()
    if already is not None:
        return already
    lines = mirrored(entry.lines.order_by("id").values_list(
        "account", "side", "amount_fen", "unit_id", "fee_item_ref"))
    reversal = post_entry(
        community_id=entry.community_id,
        business_key=_reversal_key(entry),
        kind=f"reversal:{entry.kind}"[:KIND_MAX],
        lines=lines,
        effective_on=effective_on,
        memo=memo or book_memo(gettext_lazy("Reversal of #%(entry)s"), entry=entry.pk),
        posted_by=posted_by,
        reverses=entry,
    )
    if reversal.reverses_id != entry.pk:
        raise PostingError(
            _("Business key %(key)s was already posted with different lines.")
            % {"key": reversal.business_key}
        )
    return reversal
