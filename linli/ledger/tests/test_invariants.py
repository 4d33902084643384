"""The ledger invariants themselves, below `linli check`."""

from __future__ import annotations

import pytest
from django.db import connection

from linli.ledger import chart
from linli.ledger import invariants as inv
from linli.ledger.append_only import append_only_unlocked
from linli.ledger.services import Line

pytestmark = pytest.mark.django_db


@pytest.fixture
def five_entries(estate, post):
    unit = estate["a1_unit"]
    return [
        post(estate["a1"], f"bill:{n}:issue", [
            Line.debit(chart.RECEIVABLE, 100 * n, unit_id=unit.pk),
            Line.credit(chart.REVENUE, 100 * n, fee_item_id=11),
        ])
        for n in range(1, 6)
    ]


def test_digest_check_streams_in_chunks_and_sees_every_entry(
    five_entries, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(inv, "_CHUNK", 2)
    # 3 chunks of entries + the empty one that ends the loop, and one line query per
    # chunk: the cost grows with chunks, never with entries.
    with django_assert_max_num_queries(7):
        checked, violations = inv.digests_match()
    assert (checked, violations) == (5, [])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses the UPDATE")
@pytest.mark.parametrize("victim", [0, 1, 2, 4])  # first, chunk edge, middle, last
def test_digest_check_finds_an_altered_entry_in_any_chunk(five_entries, monkeypatch, victim):
    monkeypatch.setattr(inv, "_CHUNK", 2)
    entry = five_entries[victim]
    with append_only_unlocked(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_journalline SET fee_item_ref = 12 WHERE entry_id = %s", [entry.pk]
        )
    checked, violations = inv.digests_match()
    assert checked == 5
    assert violations == [f"entry #{entry.pk}: lines were altered after posting"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses the UPDATE")
def test_many_broken_entries_are_reported_with_a_count_not_one_by_one(
    five_entries, monkeypatch
):
    monkeypatch.setattr(inv, "MAX_REPORTED", 2)
    with append_only_unlocked(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_journalline SET fee_item_ref = 12")
    checked, violations = inv.digests_match()
    assert checked == 5
    assert violations[-1] == "… and 3 more"
    assert len(violations) == 3


def test_trial_balance_counts_communities(five_entries, estate, post):
    post(estate["a2"], "cash:1", [Line.debit(chart.BANK, 1), Line.credit(chart.CASH, 1)])
    assert inv.trial_balance_zero() == (2, [])
    assert inv.entries_balance() == (6, [])
    assert inv.lines_valid() == (12, [])


@pytest.mark.parametrize("community", ["other", "missing"])
def test_a_line_whose_community_is_not_its_entrys_is_found(five_entries, estate, community):
    """A line's community has no database foreign key (it repeats its entry's, and a bill
    run writes a line per bill); this check is what proves it, on every database."""
    entry = five_entries[0]
    community_id = estate["a2"].pk if community == "other" else 999_999
    with connection.cursor() as cursor:
        # A balanced pair, so only the dimension is wrong.
        for side in ("D", "C"):
            cursor.execute(
                "INSERT INTO ledger_journalline (entry_id, account, side, amount_fen, "
                "community_id) VALUES (%s, %s, %s, 7, %s)",
                [entry.pk, chart.BANK, side, community_id],
            )
    checked, violations = inv.lines_valid()
    assert checked == 12
    assert violations == [
        f"line #{pk} of entry #{entry.pk}: community differs from its entry's"
        for pk in sorted(entry.lines.filter(community_id=community_id).values_list("pk", flat=True))
    ]
    assert len(violations) == 2
    assert inv.entries_balance()[1] == []


def test_the_digest_format_is_fixed_whatever_computes_it(five_entries, estate):
    """Digests already stored must keep matching: posting digests plain tuples, `linli
    check` recomputes from the stored lines, and both hash the same canonical text."""
    import hashlib

    from linli.ledger.models import lines_digest, rows_digest

    entry = five_entries[0]
    a1, unit = estate["a1"].pk, estate["a1_unit"].pk
    text = "".join(sorted([f"{chart.RECEIVABLE}|D|100|{a1}|{unit}|\n",
                           f"{chart.REVENUE}|C|100|{a1}||11\n"]))
    assert entry.digest == hashlib.sha256(text.encode()).hexdigest()
    lines = list(entry.lines.all())
    assert lines_digest(lines) == entry.digest
    assert rows_digest(
        (x.account, x.side, x.amount_fen, x.community_id, x.unit_id, x.fee_item_ref)
        for x in reversed(lines)
    ) == entry.digest


@pytest.mark.parametrize("unit", ["other", "missing"])
def test_a_line_whose_unit_is_missing_or_of_another_community_is_found(
    five_entries, estate, unit
):
    """A line's unit has no database foreign key either; this check proves it exists, in
    the line's community."""
    entry = five_entries[0]
    unit_id = estate["a2_unit"].pk if unit == "other" else 999_999
    with connection.cursor() as cursor:
        for side in ("D", "C"):
            cursor.execute(
                "INSERT INTO ledger_journalline (entry_id, account, side, amount_fen, "
                "community_id, unit_id) VALUES (%s, %s, %s, 7, %s, %s)",
                [entry.pk, chart.PREPAID, side, entry.community_id, unit_id],
            )
    checked, violations = inv.lines_valid()
    assert checked == 12
    assert violations == [
        f"line #{pk} of entry #{entry.pk}: unit #{unit_id} is in another community or does "
        "not exist"
        for pk in sorted(entry.lines.filter(unit_id=unit_id).values_list("pk", flat=True))
    ]
    assert len(violations) == 2


def test_a_line_whose_entry_does_not_exist_is_found(five_entries, estate):
    """Nor has a line's entry a database foreign key (a bill run writes a line per bill):
    an entry is never deleted, and this check proves no line was written without one."""
    with connection.cursor() as cursor:
        for side in ("D", "C"):
            cursor.execute(
                "INSERT INTO ledger_journalline (entry_id, account, side, amount_fen, "
                "community_id) VALUES (999999, %s, %s, 7, %s)",
                [chart.BANK, side, estate["a1"].pk],
            )
    checked, violations = inv.lines_valid()
    assert checked == 12
    orphans = sorted(inv.JournalLine.objects.filter(entry_id=999_999).values_list("pk", flat=True))
    assert violations == [f"line #{pk}: its entry #999999 does not exist" for pk in orphans]
    assert len(violations) == 2
    assert inv.digests_match() == (5, [])
