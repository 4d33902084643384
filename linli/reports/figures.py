"""The definitions (``definitions.py``) as queries: sums grouped in the database, in fen.

Every figure is built from four sums over immutable records, each restricted to what
was recorded before a cut-off moment (the end of the as-of date), so a report run for
a past date gives the figures it gave on that date:

- issued: bills' amounts (``Bill.issued_at``);
- reduced: approved waivers, discounts and cancellations (``decided_at``), and bills of
  a reversed run (the run's ``reversed_at``);
- paid: principal and late fee allocated by payments (``Payment.received_at``), except
  payments taken back (``PaymentReversal.at``);
- refunded: refund lines of refunds completed (``RefundApplication.refunded_at``).

What a bill still owes (issued − reduced − paid) is never negative, so what bills owe
by aging bucket or by unit is the same grouped sums with the bucket or unit as one more
GROUP BY column: no per-bill subquery and no loop over bills in Python.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Q, QuerySet, Sum, Value, When

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import CHARGE_REDUCING
from linli.payments.models import PaymentAllocation, PrepaidMovement
from linli.refunds.models import RefundApplication, RefundLine
from linli.reports.definitions import AGING_BUCKETS
from linli.reports.scope import DIMENSIONS, Scope

Key = tuple


@dataclass
class Parts:
    """The four sums for one group (fen)."""

    issued_fen: int = 0
    reduced_fen: int = 0
    paid_fen: int = 0          # principal, gross of refunds
    late_fee_fen: int = 0
    refunded_fen: int = 0

    @property
    def charged_fen(self) -> int:
        return self.issued_fen - self.reduced_fen

    @property
    def collected_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def owed_fen(self) -> int:
        return self.charged_fen - self.paid_fen


def bucket_case(due_field: str, as_of: dt.date) -> Case:
    """The aging bucket (index into ``AGING_BUCKETS``) of a bill due on ``due_field``."""
    whens = [When(**{f"{due_field}__gte": as_of - dt.timedelta(days=bound)}, then=Value(i))
             for i, (bound, _label) in enumerate(AGING_BUCKETS[:-1])]
    return Case(*whens, default=Value(len(AGING_BUCKETS) - 1), output_field=IntegerField())


def _grouped(qs: QuerySet, prefix: str, dims, bucket_on: dt.date | None,
             **sums) -> dict[Key, dict[str, int]]:
    paths = [prefix + DIMENSIONS[d] for d in dims]
    if bucket_on is not None:
        qs = qs.annotate(_bucket=bucket_case(f"{prefix}due_date", bucket_on))
        paths.append("_bucket")
    aggregates = {name: Sum(expr, default=0) for name, expr in sums.items()}
    if not paths:
        row = qs.aggregate(**aggregates)
        return {(): row} if any(row.values()) else {}
    rows = qs.order_by().values(*paths).annotate(**aggregates)
    return {tuple(r[p] for p in paths): {n: r[n] for n in sums} for r in rows}


def _where(scope: Scope, where: dict, prefix: str) -> Q:
    return scope.bill_q(prefix) & Q(**{prefix + k: v for k, v in where.items()})


def _before(field: str, cut: dt.datetime | None, since: dt.datetime | None = None) -> Q:
    q = Q()
    if cut is not None:
        q &= Q(**{f"{field}__lt": cut})
    if since is not None:
        q &= Q(**{f"{field}__gte": since})
    return q


def allocations(scope: Scope, where: dict, cut, since=None) -> QuerySet:
    """Allocations to the bills that count as paid at ``cut`` (received in
    [``since``, ``cut``), not taken back before ``cut``)."""
    qs = PaymentAllocation.objects.filter(
        _where(scope, where, "bill__"), _before("payment__received_at", cut, since))
    taken_back = Q(payment__reversal__isnull=False) & _before("payment__reversal__at", cut)
    return qs.exclude(taken_back)


def refund_lines(scope: Scope, where: dict, cut, since=None) -> QuerySet:
    return RefundLine.objects.filter(
        _where(scope, where, "bill__"), application__status=RefundApplication.Status.REFUNDED,
    ).filter(_before("application__refunded_at", cut, since))


def issued_bills(scope: Scope, where: dict, cut) -> QuerySet:
    return Bill.objects.filter(_where(scope, where, ""), _before("issued_at", cut))


def reductions(scope: Scope, where: dict, cut) -> tuple[QuerySet, QuerySet]:
    """(approved charge-reducing adjustments, bills of runs reversed) before ``cut``."""
    adjustments = BillAdjustment.objects.filter(
        _where(scope, where, "bill__"), _before("decided_at", cut),
        status=BillAdjustment.Status.APPROVED, kind__in=CHARGE_REDUCING)
    reversed_bills = Bill.objects.filter(
        _where(scope, where, ""), _before("bill_run__reversed_at", cut), run_reversed=True)
    return adjustments, reversed_bills


def money_parts(scope: Scope, where: dict, cut, *, dims=(), since=None,
                bucket_on=None) -> dict[Key, Parts]:
    """Paid (principal, late fee) and refunded, in [``since``, ``cut``)."""
    out: dict[Key, Parts] = defaultdict(Parts)
    for key, row in _grouped(allocations(scope, where, cut, since), "bill__", dims, bucket_on,
                             paid_fen="principal_fen", late_fee_fen="late_fee_fen").items():
        out[key].paid_fen += row["paid_fen"]
        out[key].late_fee_fen += row["late_fee_fen"]
    for key, row in _grouped(refund_lines(scope, where, cut, since), "bill__", dims, bucket_on,
                             s="amount_fen").items():
        out[key].refunded_fen += row["s"]
    return out


def parts(scope: Scope, where: dict, cut, *, dims=(), bucket_on=None) -> dict[Key, Parts]:
    """All four sums for the bills matching ``where``, as recorded before ``cut``."""
    out = money_parts(scope, where, cut, dims=dims, bucket_on=bucket_on)
    for key, row in _grouped(issued_bills(scope, where, cut), "", dims, bucket_on,
                             s="amount_fen").items():
        out[key].issued_fen += row["s"]
    adjustments, reversed_bills = reductions(scope, where, cut)
    for qs, prefix in ((adjustments, "bill__"), (reversed_bills, "")):
        for key, row in _grouped(qs, prefix, dims, bucket_on, s="amount_fen").items():
            out[key].reduced_fen += row["s"]
    return dict(out)


def prepaid_held(scope: Scope, cut, *, dims=()) -> dict[Key, int] | None:
    """Prepaid balances at ``cut`` per group; ``None`` when they cannot be told apart
    by the grouping or the scope (a fee item: a balance belongs to none)."""
    if scope.fee_item_id is not None or not set(dims) <= {"community", "building", "unit"}:
        return None
    q = Q()
    if scope.community_ids is not None:
        q &= Q(wallet__community_id__in=sorted(scope.community_ids))
    if scope.building_id is not None:
        q &= Q(wallet__unit__building_id=scope.building_id)
    if scope.unit_id is not None:
        q &= Q(wallet__unit_id=scope.unit_id)
    qs = PrepaidMovement.objects.filter(q, _before("at", cut))
    paths = {"community": "wallet__community_id", "building": "wallet__unit__building_id",
             "unit": "wallet__unit_id"}
    cols = [paths[d] for d in dims]
    if not cols:
        total = qs.aggregate(s=Sum("amount_fen", default=0))["s"]
        return {(): total} if total else {}
    rows = qs.order_by().values(*cols).annotate(s=Sum("amount_fen"))
    return {tuple(r[c] for c in cols): r["s"] for r in rows}


def households(scope: Scope, where: dict, cut, *, dims=()) -> dict[Key, tuple[int, int]]:
    """Per group: (units or spaces charged on these bills, those of them owing nothing).
    Grouped by unit and space in the database; counted per unit here."""
    per_target = parts(scope, where, cut, dims=(*dims, "unit", "space"))
    out: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for key, p in per_target.items():
        if p.charged_fen > 0:
            counts = out[key[:-2]]
            counts[0] += 1
            counts[1] += p.owed_fen <= 0
    return {k: (v[0], v[1]) for k, v in out.items()}
