"""Ledger invariants (DESIGN §7), run by `linli check` and the nightly job.

They read the tables directly, never through the posting code, so that a row written
by raw SQL, a restored backup or a bug is judged on what is stored.
"""

from __future__ import annotations

from itertools import groupby

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum

from linli.core.invariants import invariant
from linli.estate.models import Unit
from linli.ledger.append_only import guarded_tables, installed_triggers
from linli.ledger.chart import CHART
from linli.ledger.models import JournalEntry, JournalLine, lines_digest

MAX_REPORTED = 50
_CHUNK = 2000

_DEBITS = Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0)
_CREDITS = Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0)
_DIGEST_FIELDS = ("account", "side", "amount_fen", "community_id", "unit_id", "fee_item_ref")


def _capped(violations: list[str], total: int) -> list[str]:
    if total > len(violations):
        violations.append(f"… and {total - len(violations)} more")
    return violations


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
    empty = JournalEntry.objects.filter(lines__isnull=True).order_by("id")
    violations += [f"entry #{pk}: has no lines" for pk in empty.values_list("id", flat=True)[:MAX_REPORTED]]
    total = (bad.count() + empty.count()) if len(violations) >= MAX_REPORTED else len(violations)
    return JournalEntry.objects.count(), _capped(violations, total)


@invariant("ledger.lines_valid", "every line has an entry, a known account, a positive amount, a "
           "valid side, its entry's community, a unit of that community, and the dimensions "
           "its account needs")
def lines_valid() -> tuple[int, list[str]]:
    unit_accounts = [code for code, a in CHART.items() if a.needs_unit]
    fee_item_accounts = [code for code, a in CHART.items() if a.needs_fee_item]
    bad = JournalLine.objects.filter(
        ~Q(account__in=list(CHART))
        | Q(amount_fen__lte=0)
        | ~Q(side__in=[JournalLine.DEBIT, JournalLine.CREDIT])
        | Q(account__in=unit_accounts, unit__isnull=True)
        | Q(account__in=fee_item_accounts, fee_item_ref__isnull=True)
    ).values_list("id", "entry_id", "account", "side", "amount_fen", "unit_id", "fee_item_ref")
    violations = [
        f"line #{i} of entry #{e}: account {a!r}, side {s!r}, amount {amt} fen, "
        f"unit {u}, fee item {f}"
        for i, e, a, s, amt, u, f in bad.order_by("id")[:MAX_REPORTED]
    ]
    # The entry has no database FK (see JournalLine): it must exist.
    orphans = JournalLine.objects.filter(~Exists(JournalEntry.objects.filter(pk=OuterRef("entry_id"))))
    violations += [
        f"line #{i}: its entry #{e} does not exist"
        for i, e in orphans.order_by("id").values_list("id", "entry_id")[:MAX_REPORTED]
    ]
    mismatched = JournalLine.objects.exclude(community_id=F("entry__community_id"))
    violations += [
        f"line #{i} of entry #{e}: community differs from its entry's"
        for i, e in mismatched.order_by("id").values_list("id", "entry_id")[:MAX_REPORTED]
    ]
    # The unit has no database FK (see JournalLine): it must exist, in the line's community.
    foreign_unit = JournalLine.objects.filter(unit_id__isnull=False).filter(~Exists(
        Unit.objects.filter(pk=OuterRef("unit_id"), community_id=OuterRef("community_id"))
    ))
    violations += [
        f"line #{i} of entry #{e}: unit #{u} is in another community or does not exist"
        for i, e, u in foreign_unit.order_by("id").values_list("id", "entry_id", "unit_id")[
            :MAX_REPORTED
        ]
    ]
    return JournalLine.objects.count(), violations


@invariant("ledger.digests", "every entry's lines match the digest written when it was posted")
def digests_match() -> tuple[int, list[str]]:
    """Streams the journal in chunks of entries, so memory stays flat however long it is."""
    violations: list[str] = []
    broken = checked = 0
    last_id = 0
    while True:
        entries = list(
            JournalEntry.objects.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "digest")[:_CHUNK]
        )
        if not entries:
            break
        first_id, last_id = entries[0][0], entries[-1][0]
        rows = (
            JournalLine.objects.filter(entry_id__gte=first_id, entry_id__lte=last_id)
            .order_by("entry_id")
            .values_list("entry_id", *_DIGEST_FIELDS, named=True)
        )
        by_entry = {k: list(g) for k, g in groupby(rows, key=lambda row: row.entry_id)}
        for entry_id, digest in entries:
            checked += 1
            if lines_digest(by_entry.get(entry_id, [])) != digest:
                broken += 1
                if len(violations) < MAX_REPORTED:
                    violations.append(f"entry #{entry_id}: lines were altered after posting")
    return checked, _capped(violations, broken)


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


@invariant("ledger.append_only_triggers",
           "the database itself refuses UPDATE and DELETE of every append-only table "
           "(journal entries and lines, receipts and their voids, refund vouchers)")
def append_only_triggers() -> tuple[int, list[str]]:
    """A table rebuilt by a migration (SQLite copies, drops and renames) loses its
    triggers silently; this says so."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return 0, []
    installed = installed_triggers()
    tables = guarded_tables()
    violations = [
        f"table {table}: the database does not refuse {' or '.join(sorted(missing))}"
        for table in tables
        if (missing := {"UPDATE", "DELETE"} - installed.get(table, set()))
    ]
    return len(tables), violations
