"""``docs/channel-states.md`` is rendered from the channel state tables, and the tables
hold together: every TradeState says what Linli does, an unknown word is never paid."""

from __future__ import annotations

from pathlib import Path

import pytest

from linli.payments.gateways.base import TradeState
from linli.payments.gateways.channel_states import REGENERATE, TABLES, render
from linli.payments.gateways.statetable import LINLI_DOES, ChannelTable, StateRow

DOC = Path(__file__).resolve().parents[4] / "docs" / "channel-states.md"


def test_the_committed_doc_is_the_rendered_tables():
    assert DOC.read_text(encoding="utf-8") == render(), f"regenerate it: {REGENERATE}"


def test_the_doc_has_a_line_per_row_and_says_what_linli_does():
    text = render()
    for table in TABLES:
        for row in (*table.rows, table.unknown):
            assert row.note in text and f"**{row.state.name}**" in text
    for state in TradeState:
        assert f"| **{state.name}** | {LINLI_DOES[state]} |" in text


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.channel)
def test_a_word_the_table_does_not_have_is_unknown(table):
    assert table.classify("SOMETHING_NEW", {}).state == TradeState.UNKNOWN
    assert table.classify("", {}).state == TradeState.UNKNOWN
    assert table.classify(table.rows[0].channel_state.lower(), {}).state == TradeState.UNKNOWN


def test_a_table_refuses_duplicate_keys_and_an_unknown_row_that_is_not_unknown():
    row = StateRow("A", "A", TradeState.PAID)
    with pytest.raises(ValueError):
        ChannelTable("x", "x", "state", (row, row), StateRow("o", "o", TradeState.UNKNOWN))
    with pytest.raises(ValueError):
        ChannelTable("x", "x", "state", (row,), StateRow("o", "o", TradeState.PAID))
