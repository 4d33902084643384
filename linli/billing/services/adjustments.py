"""Waivers (减免), discounts, cancellations and late-fee waivers: new linked records with a
reason, who asked and who approved — never an edit of the bill."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import Bill, BillAdjustment, BillingSettings
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.billing.services.bill_run import deposit_fee_item_ids
from linli.billing.services.status import bills_refresh_status, lock_bills
from linli.core.audit import audit_record
from linli.core.audit import person_or_none as _user
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.services import post_entry
from linli.money import format_fen
from linli.staff.models import Role

Kind = BillAdjustment.Kind
APPROVE_PERMISSION = "billing.approve_billadjustment"


def _asked_fen(bill_id: int) -> int:
    """What a bill's adjustments come to, pending and approved (the new one included):
    counted per bill, so that a large waiver cannot be asked for in pieces."""
    return BillAdjustment.objects.filter(bill_id=bill_id).exclude(
        status=BillAdjustment.Status.REJECTED).aggregate(total=Sum("amount_fen"))["total"] or 0


def _terms(community_id: int) -> tuple[int, int | None]:
    """(approval threshold, finance approval threshold or None) of the community."""
    settings = BillingSettings.objects.filter(community_id=community_id).first()
    if settings is None:
        return 10000, None
    return settings.approval_threshold_fen, settings.finance_approval_above_fen


def _needs_approval(bill: Bill) -> bool:
    """Above the community's threshold (or its finance threshold) an adjustment waits
    for someone else to approve it — whoever asked, approver or not."""
    threshold, finance_above = _terms(bill.community_id)
    asked_fen = _asked_fen(bill.pk)
    return asked_fen > threshold or (finance_above is not None and asked_fen > finance_above)


def _is_finance(user) -> bool:
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role == Role.FINANCE


def _check_approver(acting_user, adjustment: BillAdjustment, bill: Bill) -> None:
    """Separation of duties: whoever asked never approves (superusers included); above
    the community's finance threshold only a finance-role user approves."""
    if adjustment.requested_by_id == acting_user.pk:
        raise PermissionDenied(_("Someone else must approve an adjustment you asked for."))
    _threshold, finance_above = _terms(bill.community_id)
    if finance_above is not None and _asked_fen(bill.pk) > finance_above \
            and not _is_finance(acting_user):
        raise PermissionDenied(
            _("Adjustments of this bill come to more than %(limit)s: finance must approve "
              "them.") % {"limit": format_fen(finance_above)})


@transaction.atomic
def bill_adjustment_request(
    *, acting_user, bill: Bill, kind: str, reason: str, amount_fen: int | None = None,
    today=None,
) -> BillAdjustment:
    """Ask for an adjustment. While the bill's adjustments stay within the community's
    threshold (and its finance threshold, if set) it applies at once; above it waits
    for someone else to approve it."""
    if not reason or not reason.strip():
        raise ValidationError(_("Give a reason for the adjustment."))
    lock_bills([bill.pk])
    bill = with_balances(Bill.objects.filter(pk=bill.pk)).get()
    amount_fen = _checked_amount(bill, kind, amount_fen, today or timezone.localdate())
    adjustment = BillAdjustment.objects.create(
        bill=bill, kind=kind, amount_fen=amount_fen, reason=reason.strip(),
        status=BillAdjustment.Status.PENDING, requested_by=_user(acting_user),
    )
    audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=adjustment,
                 community_id=bill.community_id, summary=f"{kind} {format_fen(amount_fen)}: {reason}"[:255])
    if not _needs_approval(bill):
        _apply(adjustment, bill, acting_user)
    return adjustment


def _checked_amount(bill: Bill, kind: str, amount_fen: int | None, today) -> int:
    if bill.status not in Bill.OPEN_STATUSES:
        raise ValidationError(_("Only unpaid or partially paid bills can be adjusted."))
    if kind == Kind.CANCELLATION:
        if bill.paid_fen:
            raise ValidationError(_("A bill that has been paid in part cannot be cancelled; "
                                    "waive the rest instead."))
        return bill.owed_fen
    if kind == Kind.LATE_FEE_WAIVER:
        limit = late_fee_due_fen(bill, as_of=today)
        amount_fen = limit if amount_fen is None else amount_fen
    else:
        limit = bill.owed_fen
    if kind not in Kind.values:
        raise ValidationError(_("Unknown adjustment."))
    if amount_fen is None or amount_fen <= 0:
        raise ValidationError(_("The amount must be more than zero."))
    if amount_fen > limit:
        raise ValidationError(
            _("At most %(limit)s can be adjusted on this bill.") % {"limit": format_fen(limit)}
        )
    return amount_fen


@transaction.atomic
def bill_adjustment_decide(*, acting_user, adjustment: BillAdjustment, approve: bool,
                           note: str = "") -> BillAdjustment:
    if not acting_user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(_("You may not approve adjustments."))
    adjustment = BillAdjustment.objects.select_for_update(no_key=True).get(pk=adjustment.pk)
    if adjustment.status != BillAdjustment.Status.PENDING:
        return adjustment
    lock_bills([adjustment.bill_id])
    bill = with_balances(Bill.objects.filter(pk=adjustment.bill_id)).get()
    if approve:
        _check_approver(acting_user, adjustment, bill)
        _checked_amount(bill, adjustment.kind, adjustment.amount_fen, timezone.localdate())
        _apply(adjustment, bill, acting_user)
    else:
        adjustment.status = BillAdjustment.Status.REJECTED
        adjustment.approved_by, adjustment.decided_at = acting_user, timezone.now()
        adjustment.save(update_fields=["status", "approved_by", "decided_at"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=adjustment,
                 community_id=bill.community_id,
                 summary=f"{'approved' if approve else 'rejected'} {note}"[:255])
    return adjustment


def _apply(adjustment: BillAdjustment, bill: Bill, acting_user) -> None:
    adjustment.status = BillAdjustment.Status.APPROVED
    adjustment.approved_by, adjustment.decided_at = _user(acting_user), timezone.now()
    adjustment.save(update_fields=["status", "approved_by", "decided_at"])
    lines = adjustment_lines(adjustment, bill)
    if lines:
        post_entry(
            community_id=bill.community_id, business_key=f"adjustment:{adjustment.pk}",
            kind=f"bill_{adjustment.kind}", lines=lines, memo=adjustment.reason,
            posted_by=acting_user,
        )
    bills_refresh_status([bill.pk])


def adjustment_lines(adjustment: BillAdjustment, bill: Bill) -> list:
    """Waivers and discounts are costs against the receivable; a cancellation takes the
    charge back out of revenue (or deposits held). A late-fee waiver moves no money: the
    late fee was never receivable."""
    facts = {"unit_id": bill.unit_id, "fee_item_id": bill.fee_item_id,
             "amount_fen": adjustment.amount_fen}
    if adjustment.kind == Kind.LATE_FEE_WAIVER:
        return []
    if adjustment.kind == Kind.CANCELLATION:
        return postings.bill_cancelled(
            **facts, deposit=bool(deposit_fee_item_ids({bill.fee_item_id})))
    if adjustment.kind == Kind.WAIVER:
        return postings.bill_waived(**facts)
    return postings.bill_discounted(**facts)
