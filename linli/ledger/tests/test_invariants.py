"""The ledger invariants themselves, below `linli check`."""

from __future__ import annotations

import pytest
from django.db import connection

from linli.ledger import chart
from linli.ledger import invariants as inv
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
    with connection.cursor() as cursor:
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
    with connection.cursor() as cursor:
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
