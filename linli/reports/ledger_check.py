"""The reports agree with the ledger: per community and fee item, what bills still owe
equals the receivable account, and what was charged less refunds set aside equals the
revenue (net of waivers and discounts) — or deposits held, for a deposit fee item.

Both sides are read from their own records: the reports' from bills, adjustments,
allocations and refund lines (``figures.py``); the ledger's from journal lines. With
``as_of`` (receivable only) the reports count what was recorded by the end of that day
and the ledger the entries posted by then (a payment entered at the counter with an earlier receipt date
is counted by the reports on its receipt date: compare such dates only after the fact).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q, Sum

from linli.billing.models import FeeItem
from linli.ledger import chart
from linli.ledger.models import JournalLine
from linli.refunds.models import RefundApplication, RefundLine
from linli.reports import figures as f
from linli.reports.scope import Scope, end_of

# Applications whose amount has been set aside in refunds payable (approval) and not
# given back by a cancellation: revenue (or deposits held) was debited for them.
SET_ASIDE = (RefundApplication.Status.APPROVED, RefundApplication.Status.PAYING,
             RefundApplication.Status.ATTENTION, RefundApplication.Status.REFUNDED)


@dataclass(frozen=True)
class Agreement:
    community_id: int
    fee_item_id: int
    what: str            # "receivable" or "revenue"
    reports_fen: int
    ledger_fen: int

    @property
    def ok(self) -> bool:
        return self.reports_fen == self.ledger_fen


def _ledger(community_id: int, accounts: list[str], cut) -> dict[int, int]:
    """Σ over ``accounts`` of each one's balance in its normal direction, per fee item;
    contra accounts (waivers, discounts) subtract."""
    qs = JournalLine.objects.filter(community_id=community_id, account__in=accounts)
    if cut is not None:
        qs = qs.filter(entry__posted_at__lt=cut)
    out: dict[int, int] = defaultdict(int)
    rows = qs.values("account", "fee_item_ref").annotate(
        d=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0),
        c=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0)).order_by()
    for row in rows:
        account = chart.CHART[row["account"]]
        normal = row["d"] - row["c"] if account.debit_normal else row["c"] - row["d"]
        sign = -1 if row["account"] in (chart.WAIVERS, chart.DISCOUNTS) else 1
        out[row["fee_item_ref"]] += sign * normal
    return out


def _set_aside(community_id: int) -> dict[int, int]:
    qs = RefundLine.objects.filter(application__community_id=community_id, bill__isnull=False,
                                   application__status__in=SET_ASIDE)
    return dict(qs.values("bill__fee_item_id").annotate(s=Sum("amount_fen")).order_by()
                .values_list("bill__fee_item_id", "s"))


def agreements(community_id: int, as_of: dt.date | None = None) -> list[Agreement]:
    """Receivable per fee item of one community, both sides, and revenue — the latter
    only for the present (``as_of`` None): an application's status tells whether its
    refund is set aside now, not whether it was on a past date."""
    cut = end_of(as_of) if as_of else None
    scope = Scope(frozenset({community_id}))
    report = f.parts(scope, {}, cut, dims=("fee_item",))
    receivable = _ledger(community_id, [chart.RECEIVABLE], cut)
    revenue = _ledger(community_id, [chart.REVENUE, chart.WAIVERS, chart.DISCOUNTS], cut)
    deposits = _ledger(community_id, [chart.DEPOSITS_HELD], cut)
    set_aside = _set_aside(community_id)
    deposit_items = set(FeeItem.objects.filter(community_id=community_id,
                                               category=FeeItem.Category.DEPOSIT)
                        .values_list("pk", flat=True))
    items = {k[0] for k in report} | set(receivable) | set(revenue) | set(deposits)
    out = []
    for item in sorted(i for i in items if i is not None):
        p = report.get((item,), f.Parts())
        earned = deposits if item in deposit_items else revenue
        out.append(Agreement(community_id, item, "receivable", p.owed_fen,
                             receivable.get(item, 0)))
        if as_of is not None:
            continue
        out.append(Agreement(community_id, item, "revenue",
                             p.charged_fen - set_aside.get(item, 0), earned.get(item, 0)))
    return out
