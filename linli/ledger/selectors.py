"""Reading the ledger: balances by account and dimension."""

from __future__ import annotations

from django.db.models import Q, Sum

from linli.ledger.chart import CHART
from linli.ledger.models import JournalLine


def _signed_sum(qs) -> tuple[int, int]:
    agg = qs.aggregate(
        debit_fen=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT)),
        credit_fen=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT)),
    )
    return agg["debit_fen"] or 0, agg["credit_fen"] or 0


def account_balance(
    *,
    account: str,
    community_id: int | None = None,
    unit_id: int | None = None,
    fee_item_id: int | None = None,
) -> int:
    """Balance in the account's normal direction (positive = normal), in fen."""
    qs = JournalLine.objects.filter(account=account)
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    if fee_item_id is not None:
        qs = qs.filter(fee_item_ref=fee_item_id)
    debit_fen, credit_fen = _signed_sum(qs)
    net = debit_fen - credit_fen
    return net if CHART[account].debit_normal else -net


def balances_by_unit(*, account: str, community_id: int) -> dict[int, int]:
    """Normal-direction balance of ``account`` per unit in a community."""
    rows = (
        JournalLine.objects.filter(account=account, community_id=community_id)
        .values("unit_id")
        .annotate(
            debit_fen=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT)),
            credit_fen=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT)),
        )
    )
    sign = 1 if CHART[account].debit_normal else -1
    return {
        r["unit_id"]: sign * ((r["debit_fen"] or 0) - (r["credit_fen"] or 0)) for r in rows
    }


def trial_balance(*, community_id: int | None = None) -> dict[str, dict[str, int]]:
    """Debit and credit totals per account; the debits and credits of a healthy ledger
    are equal."""
    qs = JournalLine.objects.all()
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    rows = qs.values("account").annotate(
        debit_fen=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT)),
        credit_fen=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT)),
    )
    return {
        r["account"]: {"debit_fen": r["debit_fen"] or 0, "credit_fen": r["credit_fen"] or 0}
        for r in rows.order_by("account")
    }
