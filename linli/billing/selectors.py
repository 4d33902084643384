"""Reading bills: what each still owes (always derived, never stored), late fees as of a
date, and the figures `linli check` compares with the ledger."""

from __future__ import annotations

import datetime as dt

from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from linli.billing.calculators.late_fee import LateFeeRule, late_fee_fen
from linli.billing.models import Bill, BillAdjustment
from linli.payments.models import PaymentAllocation, PaymentReversal

# Adjustments that reduce what the bill charges (late-fee waivers reduce the late fee).
CHARGE_REDUCING = (
    BillAdjustment.Kind.WAIVER,
    BillAdjustment.Kind.DISCOUNT,
    BillAdjustment.Kind.CANCELLATION,
)


def _sum_subquery(model_qs, field: str):
    return Coalesce(
        Subquery(
            model_qs.values("bill_id").annotate(total=Sum(field)).values("total")[:1],
            output_field=BigIntegerField(),
        ),
        Value(0),
        output_field=BigIntegerField(),
    )


def with_balances(qs: QuerySet[Bill]) -> QuerySet[Bill]:
    """Annotate ``adjusted_fen``, ``paid_fen``, ``late_fee_paid_fen``, ``late_fee_waived_fen``
    and ``owed_fen`` (= amount − adjustments − principal paid). A reversed payment's
    allocations (``PaymentReversal``) no longer count as paid."""
    approved = BillAdjustment.objects.filter(
        bill_id=OuterRef("pk"), status=BillAdjustment.Status.APPROVED
    )
    allocations = PaymentAllocation.objects.filter(bill_id=OuterRef("pk")).exclude(
        Exists(PaymentReversal.objects.filter(payment_id=OuterRef("payment_id"))))
    return qs.annotate(
        adjusted_fen=_sum_subquery(approved.filter(kind__in=CHARGE_REDUCING), "amount_fen"),
        late_fee_waived_fen=_sum_subquery(
            approved.filter(kind=BillAdjustment.Kind.LATE_FEE_WAIVER), "amount_fen"
        ),
        paid_fen=_sum_subquery(allocations, "principal_fen"),
        late_fee_paid_fen=_sum_subquery(allocations, "late_fee_fen"),
    ).annotate(
        # A cancelled bill owes nothing, whether cancelled alone (an adjustment) or with
        # its whole run (the run's reversal entry).
        owed_fen=Case(
            When(status=Bill.Status.CANCELLED, then=Value(0)),
            default=ExpressionWrapper(
                F("amount_fen") - F("adjusted_fen") - F("paid_fen"), output_field=BigIntegerField()
            ),
            output_field=BigIntegerField(),
        )
    )


def bill_with_balance(bill_id: int) -> Bill:
    return with_balances(Bill.objects.filter(pk=bill_id)).get()


def late_fee_rule(bill: Bill) -> LateFeeRule | None:
    if bill.late_fee_daily_rate is None:
        return None
    return LateFeeRule(
        daily_rate=bill.late_fee_daily_rate,
        grace_days=bill.late_fee_grace_days,
        cap_fen=bill.late_fee_cap_fen,
    )


def late_fee_due_fen(bill: Bill, *, as_of: dt.date) -> int:
    """Late fee still to charge on ``bill`` as of a date: computed on the principal still
    owed, minus late fee already paid or waived. ``bill`` must carry balances."""
    rule = late_fee_rule(bill)
    if rule is None or bill.status not in Bill.OPEN_STATUSES:
        return 0
    accrued = late_fee_fen(
        principal_fen=bill.owed_fen, due_date=bill.due_date, as_of=as_of, rule=rule
    )
    return max(0, accrued - bill.late_fee_waived_fen)


def is_overdue(bill: Bill, *, today: dt.date) -> bool:
    return bill.status in Bill.OPEN_STATUSES and bill.due_date < today


def overdue_q(today: dt.date) -> Q:
    return Q(status__in=Bill.OPEN_STATUSES, due_date__lt=today)


def owed_by_unit(*, community_id: int) -> dict[int, int]:
    """Sum of what bills still owe, per unit (cancelled bills owe nothing)."""
    rows = (
        with_balances(Bill.objects.filter(community_id=community_id))
        .values("unit_id")
        .annotate(total=Sum("owed_fen"))
        .order_by()
    )
    return {r["unit_id"]: r["total"] or 0 for r in rows if r["total"]}


def bill_label(bill: Bill) -> str:
    """“物业服务费 2026-11”, or with the parking space: “停车费 B1-012 2026-11”."""
    space = f" {bill.parking_space.code}" if bill.parking_space_id else ""
    return f"{bill.fee_item.name}{space} {bill.period_key}"
