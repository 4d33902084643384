"""Posting rules: which accounts each business event debits and credits (DESIGN §7).

One pure function per business event: the event's facts (ids and integer fen) in, the
ledger lines out. Services call a rule and hand its lines to ``post_entry``; nothing
else in the code builds ledger lines (``ledger/tests/test_postings.py`` greps for it).
No function here touches the database.

Every rule is registered with ``@rule``: the entry kind it posts, the accounts it may
debit and credit, a sentence saying when it happens, and example facts. The table in
``docs/postings.md`` is generated from the registry (``linli postings``), and a test
keeps the two equal and checks that every rule balances on its example.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from linli.ledger import chart
from linli.ledger.lines import Line
from linli.ledger.models import JournalLine

DEBIT, CREDIT = JournalLine.DEBIT, JournalLine.CREDIT

# Where money sits once received, per payment channel (the debit side of a payment, the
# credit side of a refund paid back the same way). Keys are ``payments.models.Channel``
# values; a TextChoices member looks itself up by its value.
CHANNEL_ACCOUNT: dict[str, str] = {
    "cash": chart.CASH,
    "pos": chart.BANK,
    "transfer": chart.BANK,
    "cheque": chart.BANK,
    "prepaid": chart.PREPAID,
    "wechat": chart.CLEARING_WECHAT,
    "alipay": chart.CLEARING_ALIPAY,
    "sandbox": chart.CLEARING_SANDBOX,
    # Money held in suspense that staff applied to a unit (an anomaly's resolution).
    "suspense": chart.SUSPENSE,
}


def channel_account(channel: str) -> str:
    return CHANNEL_ACCOUNT[str(channel)]


def _channel_line(side: str, channel: str, amount_fen: int, unit_id: int | None) -> Line:
    """A line on a channel's account; the prepaid balance is kept per unit."""
    account = channel_account(channel)
    return Line(account, side, amount_fen, unit_id if account == chart.PREPAID else None, None)


# --- the registry --------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    kind: str                 # JournalEntry.kind the lines are posted under
    event: str                # when it happens, in a sentence (English; docs)
    debits: tuple[str, ...]   # accounts it may debit ("channel" = the channel's account)
    credits: tuple[str, ...]
    function: Callable[..., list[Line]]
    example: Mapping = field(default_factory=dict)


RULES: dict[str, Rule] = {}

CHANNEL = "channel"  # stands for "the payment channel's account" in a rule's accounts


def rule(*, kind: str, event: str, debits: Iterable[str], credits: Iterable[str],
         example: Mapping):
    """Register a posting rule (see the module docstring)."""
    def register(function):
        if function.__name__ in RULES:
            raise ValueError(f"posting rule {function.__name__} registered twice")
        RULES[function.__name__] = Rule(kind, event, tuple(debits), tuple(credits), function,
                                        example)
        return function
    return register


def kind_of(function) -> str:
    """The entry kind a rule posts under (so services never spell it themselves)."""
    return RULES[function.__name__].kind


# --- billing -------------------------------------------------------------------------

BILL_ISSUE = "bill_issue"


@rule(kind=BILL_ISSUE,
      event="Bills are issued (a bill run batch or a one-off charge): receivable per unit "
            "and fee item against revenue per fee item, or deposits held for a deposit.",
      debits=[chart.RECEIVABLE], credits=[chart.REVENUE, chart.DEPOSITS_HELD],
      example={"charges": [(1, 7, 12000), (2, 7, 8000), (1, 9, 50000)],
               "deposit_item_ids": {9}})
def bills_issued(charges: Iterable[tuple[int, int, int]], deposit_item_ids: set[int]
                 ) -> list[Line]:
    """``charges``: (unit_id, fee_item_id, amount_fen) per bill. One debit per unit and
    fee item; one revenue credit per fee item; one deposits-held credit per unit and
    deposit fee item. (Positional ``Line``s: a run makes one per bill.)"""
    debit: dict[tuple[int, int], int] = defaultdict(int)
    credit: dict[tuple[str, int, int | None], int] = defaultdict(int)
    revenue, deposits = chart.REVENUE, chart.DEPOSITS_HELD
    for unit_id, item_id, amount_fen in charges:
        debit[(unit_id, item_id)] += amount_fen
        if item_id in deposit_item_ids:
            credit[(deposits, item_id, unit_id)] += amount_fen
        else:
            credit[(revenue, item_id, None)] += amount_fen
    receivable = chart.RECEIVABLE
    return [
        Line(receivable, DEBIT, amount, unit_id, item_id)
        for (unit_id, item_id), amount in debit.items()
    ] + [
        Line(account, CREDIT, amount, unit_id, item_id)
        for (account, item_id, unit_id), amount in credit.items()
    ]


@rule(kind="bill_waiver", event="A waiver (减免) of part or all of a bill is approved.",
      debits=[chart.WAIVERS], credits=[chart.RECEIVABLE],
      example={"unit_id": 1, "fee_item_id": 7, "amount_fen": 3000})
def bill_waived(*, unit_id: int, fee_item_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.WAIVERS, amount_fen, fee_item_id=fee_item_id),
            Line.credit(chart.RECEIVABLE, amount_fen, unit_id=unit_id, fee_item_id=fee_item_id)]


@rule(kind="bill_discount", event="A discount (折扣) on a bill is approved.",
      debits=[chart.DISCOUNTS], credits=[chart.RECEIVABLE],
      example={"unit_id": 1, "fee_item_id": 7, "amount_fen": 1200})
def bill_discounted(*, unit_id: int, fee_item_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.DISCOUNTS, amount_fen, fee_item_id=fee_item_id),
            Line.credit(chart.RECEIVABLE, amount_fen, unit_id=unit_id, fee_item_id=fee_item_id)]


@rule(kind="bill_cancellation",
      event="A bill is cancelled (作废): the charge comes back out of revenue, or out of "
            "deposits held for a deposit.",
      debits=[chart.REVENUE, chart.DEPOSITS_HELD], credits=[chart.RECEIVABLE],
      example={"unit_id": 1, "fee_item_id": 7, "amount_fen": 12000, "deposit": False})
def bill_cancelled(*, unit_id: int, fee_item_id: int, amount_fen: int, deposit: bool
                   ) -> list[Line]:
    if deposit:
        debit = Line.debit(chart.DEPOSITS_HELD, amount_fen, unit_id=unit_id,
                           fee_item_id=fee_item_id)
    else:
        debit = Line.debit(chart.REVENUE, amount_fen, fee_item_id=fee_item_id)
    return [debit,
            Line.credit(chart.RECEIVABLE, amount_fen, unit_id=unit_id, fee_item_id=fee_item_id)]


# --- payments ------------------------------------------------------------------------


@rule(kind="payment",
      event="Money is received for a unit (counter, online channel, or paid from the "
            "prepaid balance): it settles receivables per fee item and late fees; what the "
            "bills do not need becomes prepaid balance.",
      debits=[CHANNEL], credits=[chart.RECEIVABLE, chart.LATE_FEE_INCOME, chart.PREPAID],
      example={"channel": "wechat", "unit_id": 1, "amount_fen": 15000,
               "principal_by_item": {7: 12000}, "late_fee_fen": 500, "excess_fen": 2500})
def payment_received(*, channel: str, unit_id: int, amount_fen: int,
                     principal_by_item: Mapping[int, int], late_fee_fen: int,
                     excess_fen: int) -> list[Line]:
    lines = [_channel_line(DEBIT, channel, amount_fen, unit_id)]
    lines += [
        Line.credit(chart.RECEIVABLE, amount, unit_id=unit_id, fee_item_id=item_id)
        for item_id, amount in principal_by_item.items() if amount
    ]
    if late_fee_fen:
        lines.append(Line.credit(chart.LATE_FEE_INCOME, late_fee_fen, unit_id=unit_id))
    if excess_fen:
        lines.append(Line.credit(chart.PREPAID, excess_fen, unit_id=unit_id))
    return lines


@rule(kind="payment_suspense",
      event="Money arrives that cannot be applied as it stands (its amount differs from "
            "its order): it is held in suspense until a person resolves it.",
      debits=[CHANNEL], credits=[chart.SUSPENSE],
      example={"channel": "alipay", "amount_fen": 1400})
def payment_to_suspense(*, channel: str, amount_fen: int) -> list[Line]:
    return [_channel_line(DEBIT, channel, amount_fen, None),
            Line.credit(chart.SUSPENSE, amount_fen)]


@rule(kind="refund_outside",
      event="The channel reports money refunded on a trade that Linli did not refund "
            "(someone on the merchant platform did), or a refund of Linli's succeeded at "
            "the channel after staff settled it another way: the money left the channel's "
            "account; suspense holds the difference until a person resolves it.",
      debits=[chart.SUSPENSE], credits=[CHANNEL],
      example={"channel": "alipay", "amount_fen": 1400})
def channel_refunded_outside(*, channel: str, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.SUSPENSE, amount_fen),
            _channel_line(CREDIT, channel, amount_fen, None)]


@rule(kind="suspense_refund_reserve",
      event="Staff resolve held money by refunding it to the payer through the channel: "
            "it moves from suspense to refunds payable until the channel confirms.",
      debits=[chart.SUSPENSE], credits=[chart.REFUNDS_PAYABLE],
      example={"amount_fen": 1400})
def suspense_refund_reserved(*, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.SUSPENSE, amount_fen),
            Line.credit(chart.REFUNDS_PAYABLE, amount_fen)]


@rule(kind="suspense_write_off",
      event="Held money nobody can be credited with is written off (requested by one "
            "person, approved by another): suspense to other income.",
      debits=[chart.SUSPENSE], credits=[chart.OTHER_INCOME],
      example={"amount_fen": 1400})
def suspense_written_off(*, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.SUSPENSE, amount_fen),
            Line.credit(chart.OTHER_INCOME, amount_fen)]


@rule(kind="suspense_shortfall_write_off",
      event="Money that left at the channel and cannot be recovered is written off "
            "(requested by one person, approved by another): other losses to suspense.",
      debits=[chart.OTHER_LOSSES], credits=[chart.SUSPENSE],
      example={"amount_fen": 1400})
def suspense_shortfall_written_off(*, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.OTHER_LOSSES, amount_fen),
            Line.credit(chart.SUSPENSE, amount_fen)]


@rule(kind="suspense_recovered",
      event="Money that left at the channel is recovered for suspense: taken from the "
            "unit's prepaid balance, or paid back at the counter in cash or by transfer.",
      debits=[CHANNEL], credits=[chart.SUSPENSE],
      example={"channel": "prepaid", "unit_id": 1, "amount_fen": 1400})
def suspense_recovered(*, channel: str, unit_id: int | None, amount_fen: int) -> list[Line]:
    return [_channel_line(DEBIT, channel, amount_fen, unit_id),
            Line.credit(chart.SUSPENSE, amount_fen)]


@rule(kind="refund_to_prepaid",
      event="A refund the channel refused is settled by putting the money back into the "
            "unit's prepaid balance: refunds payable to prepaid.",
      debits=[chart.REFUNDS_PAYABLE], credits=[chart.PREPAID],
      example={"unit_id": 1, "amount_fen": 2500})
def refund_returned_to_prepaid(*, unit_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.REFUNDS_PAYABLE, amount_fen),
            Line.credit(chart.PREPAID, amount_fen, unit_id=unit_id)]


# --- refunds -------------------------------------------------------------------------


@rule(kind="refund_reserve",
      event="A refund out of a unit's prepaid balance starts (an approved prepaid refund, "
            "or an overpayment refunded automatically): the money is set aside in refunds "
            "payable so it cannot be spent meanwhile.",
      debits=[chart.PREPAID], credits=[chart.REFUNDS_PAYABLE],
      example={"unit_id": 1, "amount_fen": 2500})
def refund_reserved(*, unit_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.PREPAID, amount_fen, unit_id=unit_id),
            Line.credit(chart.REFUNDS_PAYABLE, amount_fen)]


@rule(kind="refund_paid",
      event="A refund set aside in refunds payable is paid back through the channel the "
            "money came by.",
      debits=[chart.REFUNDS_PAYABLE], credits=[CHANNEL],
      example={"channel": "wechat", "amount_fen": 2500})
def refund_paid_from_payable(*, channel: str, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.REFUNDS_PAYABLE, amount_fen),
            _channel_line(CREDIT, channel, amount_fen, None)]


@rule(kind="refund_reserve",
      event="A refund application is approved: what the unit is to get back is set aside "
            "in refunds payable until the money goes (revenue per fee item, deposits held "
            "for a deposit, or the prepaid balance is debited). Cancelling the application "
            "reverses this entry.",
      debits=[chart.REVENUE, chart.DEPOSITS_HELD, chart.PREPAID],
      credits=[chart.REFUNDS_PAYABLE],
      example={"unit_id": 1, "amount_fen": 53000,
               "bill_lines": [(7, 3000, False), (9, 50000, True)], "prepaid_fen": 0})
def refund_approved(*, unit_id: int, amount_fen: int,
                    bill_lines: Iterable[tuple[int, int, bool]], prepaid_fen: int
                    ) -> list[Line]:
    """``bill_lines``: (fee_item_id, amount_fen, is_deposit) per bill line to refund;
    ``prepaid_fen``: the part refunded out of the prepaid balance. The parts must add up
    to ``amount_fen``, the amount approved."""
    debits = []
    total_fen = prepaid_fen
    if prepaid_fen:
        debits.append(Line.debit(chart.PREPAID, prepaid_fen, unit_id=unit_id))
    for fee_item_id, line_fen, deposit in bill_lines:
        total_fen += line_fen
        if deposit:
            debits.append(Line.debit(chart.DEPOSITS_HELD, line_fen, unit_id=unit_id,
                                     fee_item_id=fee_item_id))
        else:
            debits.append(Line.debit(chart.REVENUE, line_fen, fee_item_id=fee_item_id))
    if total_fen != amount_fen:
        raise ValueError(f"refund parts add up to {total_fen} fen, not {amount_fen}")
    return [*debits, Line.credit(chart.REFUNDS_PAYABLE, amount_fen)]


@rule(kind="refund",
      event="An approved refund's money has gone back (through the gateway, in cash or by "
            "transfer at the counter, or to the prepaid balance): refunds payable is "
            "debited, the channel's account credited.",
      debits=[chart.REFUNDS_PAYABLE], credits=[CHANNEL],
      example={"channel": "cash", "unit_id": 1, "amount_fen": 53000})
def refund_paid_out(*, channel: str, unit_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.REFUNDS_PAYABLE, amount_fen),
            _channel_line(CREDIT, channel, amount_fen, unit_id)]


@rule(kind="refund_duplicate",
      event="A channel reports a refund succeeded after staff had paid it another way: "
            "the unit got the money twice. The second outflow leaves the channel's "
            "account and the unit owes it back (other receivables) until staff resolve it.",
      debits=[chart.OTHER_RECEIVABLE], credits=[CHANNEL],
      example={"channel": "wechat", "unit_id": 1, "amount_fen": 25688})
def refund_paid_twice(*, channel: str, unit_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.OTHER_RECEIVABLE, amount_fen, unit_id=unit_id),
            _channel_line(CREDIT, channel, amount_fen, unit_id)]


@rule(kind="refund_duplicate_recovered",
      event="Money of a refund paid twice comes back: in cash or by transfer at the "
            "counter, or taken from the unit's prepaid balance.",
      debits=[CHANNEL], credits=[chart.OTHER_RECEIVABLE],
      example={"channel": "prepaid", "unit_id": 1, "amount_fen": 25688})
def refund_duplicate_recovered(*, channel: str, unit_id: int, amount_fen: int) -> list[Line]:
    return [_channel_line(DEBIT, channel, amount_fen, unit_id),
            Line.credit(chart.OTHER_RECEIVABLE, amount_fen, unit_id=unit_id)]


@rule(kind="refund_duplicate_write_off",
      event="A refund paid twice is written off (asked by one person, approved by "
            "another): what the unit owed back becomes a loss.",
      debits=[chart.REFUND_LOSSES], credits=[chart.OTHER_RECEIVABLE],
      example={"unit_id": 1, "amount_fen": 25688})
def refund_duplicate_written_off(*, unit_id: int, amount_fen: int) -> list[Line]:
    return [Line.debit(chart.REFUND_LOSSES, amount_fen),
            Line.credit(chart.OTHER_RECEIVABLE, amount_fen, unit_id=unit_id)]


# --- corrections ---------------------------------------------------------------------


def mirrored(lines: Iterable[tuple]) -> list[Line]:
    """The mirror image of an entry's lines (debits become credits): a reversal. Not a
    rule of its own: its kind is ``reversal:<kind of the entry>``."""
    flip = {DEBIT: CREDIT, CREDIT: DEBIT}
    return [Line(account, flip[side], amount_fen, unit_id, fee_item_id)
            for account, side, amount_fen, unit_id, fee_item_id in lines]


# --- the table, for people -------------------------------------------------------------


def markdown_table() -> str:
    """The event → accounts table (``docs/postings.md``), from the registry."""
    def names(codes):
        out = []
        for code in codes:
            if code == CHANNEL:
                out.append("the channel's account (table below)")
            else:
                out.append(f"{code} {chart.CHART[code].name}")
        return "; ".join(out)

    from django.utils import translation

    rows = ["# Posting rules", "",
            "Generated by `linli postings` from `linli/ledger/postings.py`; do not edit.", "",
            "| entry kind | rule | when | debit | credit |", "|---|---|---|---|---|"]
    with translation.override("en"):
        for name, r in RULES.items():
            rows.append(f"| `{r.kind}` | `{name}` | {r.event} | {names(r.debits)} | "
                        f"{names(r.credits)} |")
        rows += ["", "The channel's account, by payment channel:", "",
                 "| channel | account |", "|---|---|"]
        rows += [f"| {channel} | {code} {chart.CHART[code].name} |"
                 for channel, code in CHANNEL_ACCOUNT.items()]
        rows += ["", "Chart of accounts:", "", "| code | account | kind | kept per |",
                 "|---|---|---|---|"]
        for a in chart.CHART.values():
            per = ", ".join(p for p, on in (("unit", a.needs_unit),
                                            ("fee item", a.needs_fee_item)) if on)
            rows.append(f"| {a.code} | {a.name} | {a.kind} | {per} |")
    return "\n".join(rows) + "\n"
