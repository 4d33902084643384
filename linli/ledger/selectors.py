"""Reading the ledger: balances by account and dimension.

Balances are in fen, in the account's normal direction (chart.py): a positive
receivable is money owed to us, a positive prepaid balance is money we hold for a unit.
"""

from __future__ import annotations

from django.db.models import Q, Sum

from linli.ledger.chart import CHART, Account
from linli.ledger.models import JournalLine

_DEBITS = Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0)
_CREDITS = Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0)


def _account(code: str) -> Account:
    try:
        return CHART[code]
    except KeyError:
        raise ValueError(f"unknown account {code!r}") from None


def _normal(account: Account, debit_fen: int, credit_fen: int) -> int:
    net = debit_fen - credit_fen
    return net if account.debit_normal else -net


def account_balance(
    *,
    account: str,
    community_id: int | None = None,
    unit_id: int | None = None,
    fee_item_id: int | None = None,
) -> int:
    """Balance of one account, optionally narrowed to a community, unit and fee item."""
    chart_account = _account(account)
    qs = JournalLine.objects.filter(account=account)
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    if fee_item_id is not None:
        qs = qs.filter(fee_item_ref=fee_item_id)
    agg = qs.aggregate(debit_fen=_DEBITS, credit_fen=_CREDITS)
    return _normal(chart_account, agg["debit_fen"], agg["credit_fen"])


def _balances_by(dimension: str, *, account: str, community_id: int) -> dict[int | None, int]:
    chart_account = _account(account)
    rows = (
        JournalLine.objects.filter(account=account, community_id=community_id)
        .values(dimension)
        .annotate(debit_fen=_DEBITS, credit_fen=_CREDITS)
        .order_by(dimension)
    )
    return {
        r[dimension]: _normal(chart_account, r["debit_fen"], r["credit_fen"]) for r in rows
    }


def balances_by_unit(*, account: str, community_id: int) -> dict[int | None, int]:
    """Balance of ``account`` per unit in a community (units that ever had a line)."""
    return _balances_by("unit_id", account=account, community_id=community_id)


def balances_by_fee_item(*, account: str, community_id: int) -> dict[int | None, int]:
    """Balance of ``account`` per fee item in a community (revenue, waivers, discounts)."""
    return _balances_by("fee_item_ref", account=account, community_id=community_id)


def trial_balance(*, community_id: int | None = None) -> dict[str, dict[str, int]]:
    """Debit and credit totals per account; in a healthy ledger the debits of all
    accounts together equal the credits, in every community."""
    qs = JournalLine.objects.all()
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    rows = (
        qs.values("account")
        .annotate(debit_fen=_DEBITS, credit_fen=_CREDITS)
        .order_by("account")
    )
    return {
        r["account"]: {"debit_fen": r["debit_fen"], "credit_fen": r["credit_fen"]} for r in rows
    }
