"""A bill's status follows its money: one rule, used by payments, adjustments, refunds
and the bill-status invariant alike (the state machine is drawn in billing/models/bills.py).

What a bill still owes is amount − waivers/discounts/cancellation − principal paid; a
refund reverses money and charge together, so it leaves that untouched. The status:

- cancelled (by an approved cancellation, or with its run reversed): CANCELLED;
- still owes something: PARTIALLY_PAID while some money paid on it is kept (paid −
  refunded > 0), else UNPAID — payable, whatever was refunded;
- owes nothing, nothing paid: WAIVED;
- owes nothing, paid, nothing refunded: PAID; all of it refunded: REFUNDED; part of it:
  PARTIALLY_REFUNDED.

Refunded fen comes from the refunds app through ``billing.hooks`` (billing never
imports refunds).
"""

from __future__ import annotations

from collections.abc import Collection

from linli.billing import hooks
from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import with_balances

S = Bill.Status


def derive_status(*, amount_fen: int, adjusted_fen: int, paid_fen: int, refunded_fen: int,
                  cancelled: bool) -> str:
    """The status a bill's figures imply (the one rule; see the module docstring)."""
    if cancelled:
        return S.CANCELLED
    if amount_fen - adjusted_fen - paid_fen > 0:
        return S.PARTIALLY_PAID if paid_fen - refunded_fen > 0 else S.UNPAID
    if paid_fen <= 0:
        return S.WAIVED
    if refunded_fen <= 0:
        return S.PAID
    return S.REFUNDED if refunded_fen >= paid_fen else S.PARTIALLY_REFUNDED


def bill_status_for(bill: Bill, *, cancelled: bool, refunded_fen: int | None = None) -> str:
    """The status ``bill`` (annotated by ``with_balances``) should have. ``refunded_fen``
    None: asked of the refund providers for this bill."""
    if refunded_fen is None:
        refunded_fen = hooks.refunded_fen([bill.pk]).get(bill.pk, 0)
    return derive_status(amount_fen=bill.amount_fen, adjusted_fen=bill.adjusted_fen,
                         paid_fen=bill.paid_fen, refunded_fen=refunded_fen,
                         cancelled=cancelled or bill.run_reversed)


def cancelled_bill_ids(bill_ids: Collection[int] | None = None) -> set[int]:
    """Bills with an approved cancellation (a reversed run's bills carry ``run_reversed``)."""
    qs = BillAdjustment.objects.filter(kind=BillAdjustment.Kind.CANCELLATION,
                                       status=BillAdjustment.Status.APPROVED)
    if bill_ids is not None:
        qs = qs.filter(bill_id__in=list(bill_ids))
    return set(qs.values_list("bill_id", flat=True))


def bills_refresh_status(bill_ids: Collection[int]) -> dict[int, str]:
    """Recompute and store the status of these bills from their money (caller holds
    their row locks: ``lock_bills``). Returns the statuses that changed."""
    bill_ids = list(bill_ids)
    if not bill_ids:
        return {}
    cancelled = cancelled_bill_ids(bill_ids)
    refunded = hooks.refunded_fen(bill_ids)
    changed = {}
    for bill in with_balances(Bill.objects.filter(pk__in=bill_ids)):
        status = bill_status_for(bill, cancelled=bill.pk in cancelled,
                                 refunded_fen=refunded.get(bill.pk, 0))
        if status != bill.status:
            Bill.objects.filter(pk=bill.pk).update(status=status)
            changed[bill.pk] = status
    return changed


def lock_bills(bill_ids) -> list[Bill]:
    """Lock bills in id order — the one lock order of every money path: bills by id,
    then the unit's prepaid wallet (``payments.services``), so two payers never
    deadlock."""
    return list(Bill.objects.select_for_update(no_key=True).filter(pk__in=bill_ids).order_by("pk"))
