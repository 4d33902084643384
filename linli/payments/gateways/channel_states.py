"""``docs/channel-states.md``, rendered from the channel state tables.

Regenerate with ``python -m linli.payments.gateways.channel_states > docs/channel-states.md``
(a test fails while the committed file differs)."""

from __future__ import annotations

from linli.payments.gateways.alipay.states import TABLE as ALIPAY
from linli.payments.gateways.base import TradeState
from linli.payments.gateways.statetable import LINLI_DOES, ChannelTable, StateRow
from linli.payments.gateways.wechat.states import TABLE as WECHAT

TABLES: tuple[ChannelTable, ...] = (WECHAT, ALIPAY)
REGENERATE = "python -m linli.payments.gateways.channel_states > docs/channel-states.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else "–"


def _row(row: StateRow) -> str:
    return "| " + " | ".join((
        f"`{row.channel_state}`" if row.channel_state.isupper() else row.channel_state,
        _cell(row.when), f"**{row.state.name}**", _cell(row.refunded),
        ", ".join(row.seen_in), _cell(row.note),
    )) + " |"


def render_table(table: ChannelTable) -> list[str]:
    lines = [f"## {table.title}", "", table.intro, "",
             f"| `{table.field}` | when | state | refunded_fen | reported by | note |",
             "|---|---|---|---|---|---|"]
    lines += [_row(row) for row in (*table.rows, table.unknown)]
    return lines + [""]


def render() -> str:
    lines = [
        "# Channel states",
        "",
        "Generated from the state tables in `linli/payments/gateways/wechat/states.py` and "
        "`linli/payments/gateways/alipay/states.py` (the adapters classify with the same "
        f"tables); do not edit. Regenerate: `{REGENERATE}`.",
        "",
        "Every state a channel's notification or query can report, and what it means to "
        "Linli: a `TradeState` and how `refunded_fen` (money refunded at the channel, by "
        "Linli or by someone on the merchant platform; 0 = nothing or not told) is read. "
        "Amount and payment time are kept only for PAID and REFUNDED; "
        "`TradeStatus.channel_state` carries the channel's own word.",
        "",
        "## What Linli does in each state",
        "",
        "| state | what Linli does |",
        "|---|---|",
    ]
    lines += [f"| **{state.name}** | {LINLI_DOES[state]} |" for state in TradeState]
    lines.append("")
    for table in TABLES:
        lines += render_table(table)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
