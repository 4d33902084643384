"""Ledger invariants (DESIGN §7), run by `linli check` and the nightly job."""

from __future__ import annotations

from itertools import groupby

from django.db.models import Count, F, Q, Sum

from linli.core.invariants import invariant
from linli.ledger.chart import CHART
from linli.ledger.models import JournalEntry, JournalLine, lines_digest

MAX_REPORTED = 50
_CHUNK = 2000

_DEBITS = Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0)
_CREDITS = Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0)


@invariant("ledger.entries_balance", "every journal entry balances (debits = credits, ≥ 2 lines)")
def entries_balance() -> tuple[int, list[str]]:
    bad = (
        JournalLine.objects.values("entry_id")
        .annotate(debit_fen=_DEBITS, credit_fen=_CREDITS, n=Count("id"))
        .filter(~Q(debit_fen=F("credit_fen")) | Q(n__lt=2))
        .order_by("entry_id")
    )
    violations = [
        f"entry #{r['entry_id']}: debits {r['debit_fen']} fen, credits {r['credit_fen']} fen, "
        f"{r['n']} line(s)"
        for r in bad[:MAX_REPORTED]
    ]
    empty = JournalEntry.objects.filter(lines__isnull=True).values_list("id", flat=True)
    violations += [f"entry #{pk}: has no lines" for pk in empty[:MAX_REPORTED]]
    return JournalEntry.objects.count(), violations


@invariant("ledger.lines_valid", "every line has a known account, a positive amount, a valid side")
def lines_valid() -> tuple[int, list[str]]:
    bad = JournalLine.objects.filter(
        ~Q(account__in=list(CHART)) | Q(amount_fen__lte=0) | ~Q(side__in=["D", "C"])
    ).values_list("id", "entry_id", "account", "side", "amount_fen")
    violations = [
        f"line #{i} of entry #{e}: account {a!r}, side {s!r}, amount {amt} fen"
        for i, e, a, s, amt in bad[:MAX_REPORTED]
    ]
    mismatched = JournalLine.objects.exclude(community_id=F("entry__community_id"))
    violations += [
        f"line #{i} of entry #{e}: community differs from its entry's"
        for i, e in mismatched.values_list("id", "entry_id")[:MAX_REPORTED]
    ]
    return JournalLine.objects.count(), violations


@invariant("ledger.digests", "every entry's lines match the digest written when it was posted")
def digests_match() -> tuple[int, list[str]]:
    violations: list[str] = []
    checked = 0
    last_id = 0
    while True:
        entries = list(
            JournalEntry.objects.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "digest")[:_CHUNK]
        )
        if not entries:
            break
        last_id = entries[-1][0]
        lines = (
            JournalLine.objects.filter(entry_id__gte=entries[0][0], entry_id__lte=last_id)
            .only("entry_id", "account", "side", "amount_fen", "unit_id", "fee_item_ref")
            .order_by("entry_id", "id")
        )
        by_entry = {k: list(g) for k, g in groupby(lines, key=lambda ln: ln.entry_id)}
        for entry_id, digest in entries:
            checked += 1
            if lines_digest(by_entry.get(entry_id, [])) != digest:
                violations.append(f"entry #{entry_id}: lines were altered after posting")
    return checked, violations[:MAX_REPORTED]


@invariant("ledger.trial_balance", "the trial balance of every community is zero")
def trial_balance_zero() -> tuple[int, list[str]]:
    rows = list(
        JournalLine.objects.values("community_id")
        .annotate(debit_fen=_DEBITS, credit_fen=_CREDITS)
        .order_by("community_id")
    )
    violations = [
        f"community #{r['community_id']}: debits {r['debit_fen']} fen ≠ credits "
        f"{r['credit_fen']} fen"
        for r in rows
        if r["debit_fen"] != r["credit_fen"]
    ]
    return len(rows), violations
