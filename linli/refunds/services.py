"""Refund applications and their review: who may apply, for what, and who may approve.

Every write locks the payment row first (``Payment`` … then the application; the whole
order is ``booking.LOCK_ORDER``), so two applications or approvals of one payment queue
and each sees what the other took. Paying the money back is ``linli.refunds.payouts``.

Separation of duties: whoever applied for a refund never approves it (superusers
included); the two approvals of a large refund come from two people; above the
community's finance threshold one approver must have the finance role; an
application filed by staff always needs someone else's approval. Approval sets the
money aside (``booking.reserve``) and is refused when the money to refund is gone.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.money import format_fen
from linli.payments.models import OrderRefund, Payment, PaymentReversal
from linli.payments.orders import payer_unit_ids
from linli.refunds.booking import SourceGone, reserve
from linli.refunds.models import (
    APPROVER_RANK,
    APPROVER_ROLES,
    RefundApplication,
    RefundLine,
    RefundPolicy,
)
from linli.refunds.selectors import policy_for, refundable_for_payment
from linli.staff.models import Role
from linli.staff.scope import community_ids_for


class RefundError(ValidationError):
    pass


# --- who may do what -------------------------------------------------------------------


def _is_staff(user) -> bool:
    return bool(user.is_superuser or getattr(user, "staff", None) is not None)


def can_apply(user, payment: Payment) -> bool:
    """Owners: payments of units they pay for. Staff: payments of their communities,
    with the permission to add applications (applying on the owner's behalf)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if _is_staff(user):
        return (payment.community_id in community_ids_for(user)
                and user.has_perm("refunds.add_refundapplication"))
    return payment.unit_id in payer_unit_ids(user)


def _role(user) -> str | None:
    if user.is_superuser:
        return Role.COMPANY_ADMIN
    staff = getattr(user, "staff", None)
    return staff.role if staff is not None else None


def may_approve(user, application: RefundApplication, *, second: bool) -> bool:
    """A staff member of the application's community whose role ranks at least the
    role the policy names for this step."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if application.community_id not in community_ids_for(user):
        return False
    role = _role(user)
    if role is None:
        return False
    needed = application.second_approver_role if second else application.approver_role
    return APPROVER_RANK.get(role, -1) >= APPROVER_RANK.get(needed, 99)


# --- applying --------------------------------------------------------------------------


def _approval_terms(policies: list[RefundPolicy], amount_fen: int) -> dict:
    """The strictest terms of the policies the application touches."""
    needs = any(p.approval == RefundPolicy.Approval.ALWAYS or amount_fen > p.approval_above_fen
                for p in policies)
    role = max((p.approver_role for p in policies), key=lambda r: APPROVER_RANK.get(r, 0))
    seconds = [p for p in policies if p.second_approval_above_fen is not None
               and amount_fen > p.second_approval_above_fen]
    second_role = (max((p.second_approver_role for p in seconds),
                       key=lambda r: APPROVER_RANK.get(r, 0)) if seconds else "")
    finance = any(p.finance_approval_above_fen is not None
                  and amount_fen > p.finance_approval_above_fen for p in policies)
    if finance and not seconds and _rank(role) > _rank(Role.FINANCE):
        # The one approver the policy asks for outranks finance: finance approves second.
        seconds, second_role = [True], Role.FINANCE
    return {"needs_approval": needs or bool(seconds) or finance, "approver_role": role,
            "needs_second": bool(seconds), "second_approver_role": second_role,
            "needs_finance": finance}


def _rank(role: str) -> int:
    return APPROVER_RANK.get(role, 99)


@transaction.atomic
def refund_apply(*, acting_user, payment: Payment, reason: str,
                 lines: dict[int, int] | None = None, prepaid_fen: int = 0,
                 today: dt.date | None = None) -> RefundApplication:
    """Apply for a refund of some bill lines a payment paid (``lines``: bill id → fen)
    or of the prepaid balance it brought in. Anything the policy does not allow is
    refused with the reason, and nothing is written."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Say why you ask for a refund."))
    lines = {int(k): v for k, v in (lines or {}).items() if v}
    if bool(lines) == bool(prepaid_fen):
        raise RefundError(_("Choose either bill lines or the prepaid balance."))
    for value in (*lines.values(), prepaid_fen):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RefundError(_("Amounts are whole fen, more than zero."))
    payment = (Payment.objects.select_for_update(no_key=True, of=("self",)).select_related("unit")
               .get(pk=payment.pk))
    if not can_apply(acting_user, payment):
        raise RefundError(_("You may not apply for a refund of this payment."))
    options = refundable_for_payment(payment, today=today)
    policies = _check_amounts(options, lines, prepaid_fen)
    amount_fen = sum(lines.values()) + prepaid_fen
    terms = _approval_terms(policies, amount_fen)
    application = RefundApplication.objects.create(
        community_id=payment.community_id, unit_id=payment.unit_id, payment=payment,
        kind=RefundApplication.Kind.PREPAID if prepaid_fen else RefundApplication.Kind.LINES,
        amount_fen=amount_fen, reason=reason[:200], requested_by=_user(acting_user),
        by_staff=_is_staff(acting_user), approver_role=terms["approver_role"],
        needs_second=terms["needs_second"],
        second_approver_role=terms["second_approver_role"],
        needs_finance=terms["needs_finance"],
    )
    if prepaid_fen:
        RefundLine.objects.create(application=application, basis=RefundLine.Basis.PREPAID,
                                  amount_fen=prepaid_fen)
    for bill_id, fen in sorted(lines.items()):
        option = options.line(bill_id)
        RefundLine.objects.create(application=application, bill=option.bill,
                                  fee_item_id=option.bill.fee_item_id, basis=option.basis,
                                  amount_fen=fen)
    audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=application,
                 community_id=application.community_id,
                 summary=f"refund application {format_fen(amount_fen)} of payment "
                         f"#{payment.pk}")
    if not terms["needs_approval"] and not application.by_staff:
        _approve(application, None, note="")
    return application


def _check_amounts(options, lines: dict[int, int], prepaid_fen: int) -> list[RefundPolicy]:
    if options.remaining_fen <= 0:
        raise RefundError(options.reason)
    policies = []
    for bill_id, fen in lines.items():
        option = options.line(bill_id)
        if option is None:
            raise RefundError(_("This payment did not pay bill #%(id)s.") % {"id": bill_id})
        if not option.refundable:
            raise RefundError(option.reason)
        if fen > option.max_fen:
            raise RefundError(
                _("At most %(max)s of %(item)s %(period)s may be refunded.")
                % {"max": format_fen(option.max_fen), "item": option.bill.fee_item.name,
                   "period": option.bill.period_key})
        policies.append(policy_for(options.payment.community_id, option.bill.fee_item_id))
    if prepaid_fen:
        if prepaid_fen > options.prepaid_max_fen:
            raise RefundError(options.prepaid_reason or (
                _("At most %(max)s of the prepaid balance may be refunded.")
                % {"max": format_fen(options.prepaid_max_fen)}))
        policies.append(policy_for(options.payment.community_id, None))
    total = sum(lines.values()) + prepaid_fen
    if total > options.remaining_fen:
        raise RefundError(_("At most %(max)s of this payment may still be refunded.")
                          % {"max": format_fen(options.remaining_fen)})
    return policies


def _user(user):
    return user if getattr(user, "pk", None) else None


# --- review ----------------------------------------------------------------------------


def _locked(application: RefundApplication) -> RefundApplication:
    Payment.objects.select_for_update(no_key=True).filter(pk=application.payment_id).first()
    return RefundApplication.objects.select_for_update(no_key=True).get(pk=application.pk)


@transaction.atomic
def refund_approve(*, acting_user, application: RefundApplication,
                   note: str = "") -> RefundApplication:
    """Approve (the first or the second approval). Once approved, the money is set aside
    and sent back after commit (``payouts.refund_execute``)."""
    application = _locked(application)
    S = RefundApplication.Status
    if application.status not in (S.SUBMITTED, S.AWAITING_SECOND):
        raise RefundError(_("This application is not awaiting approval."))
    second = application.status == S.AWAITING_SECOND
    _check_approver(acting_user, application)
    now = timezone.now()
    if not second:
        application.first_approver, application.first_approved_at = acting_user, now
    else:
        application.second_approver, application.second_approved_at = acting_user, now
    application.decision_note = (note or application.decision_note)[:200]
    if application.needs_second and not second:
        application.status = S.AWAITING_SECOND
        application.save()
        audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                     community_id=application.community_id, summary="first approval")
        return application
    application.decided_by, application.decided_at = acting_user, now
    application.save()
    return _approve(application, acting_user, note=note)


def approval_refusal(user, application: RefundApplication) -> str:
    """Why ``user`` may not give the approval the application waits for ("" if they may)."""
    S = RefundApplication.Status
    if application.status not in (S.SUBMITTED, S.AWAITING_SECOND):
        return _("This application is not awaiting approval.")
    second = application.status == S.AWAITING_SECOND
    if application.requested_by_id is not None and application.requested_by_id == user.pk:
        return _("You applied for this refund; someone else must approve it.")
    if not may_approve(user, application, second=second):
        role = dict(APPROVER_ROLES).get(
            application.second_approver_role if second else application.approver_role, "")
        return _("This refund must be approved by: %(role)s.") % {"role": role}
    if second and application.first_approver_id == user.pk:
        return _("The second approval must come from another person.")
    if application.needs_finance and not _is_finance(user) and _finance_step(application,
                                                                              second):
        return _("A refund of this amount must be approved by someone with the finance role.")
    return ""


def _check_approver(user, application: RefundApplication) -> None:
    refusal = approval_refusal(user, application)
    if refusal:
        raise RefundError(refusal)


def _is_finance(user) -> bool:
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role == Role.FINANCE


def _finance_step(application: RefundApplication, second: bool) -> bool:
    """Whether this approval is the one that must come from finance: the last one when
    no finance person approved before, or the first when the second approver's role
    outranks finance (so finance could not give it)."""
    if second:
        first = application.first_approver
        return first is None or not _is_finance(first)
    if not application.needs_second:
        return True
    return _rank(application.second_approver_role) > _rank(Role.FINANCE)


def _approve(application: RefundApplication, acting_user, *, note: str) -> RefundApplication:
    from linli.refunds.payouts import queue_execute

    _check_source(application)
    try:
        reserve(application, acting_user=acting_user)
    except SourceGone as exc:
        raise RefundError(_("Refused: %(reason)s") % {"reason": exc}) from exc
    application.status = RefundApplication.Status.APPROVED
    if acting_user is None:
        application.decided_at = timezone.now()
    application.save()
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"approved {format_fen(application.amount_fen)}"
                         + ("" if acting_user else " (no approval needed)"))
    transaction.on_commit(lambda: queue_execute(application.pk))
    return application


SET_ASIDE = (RefundApplication.Status.APPROVED, RefundApplication.Status.PAYING,
             RefundApplication.Status.ATTENTION, RefundApplication.Status.REFUNDED)


def _check_source(application: RefundApplication) -> None:
    """Under the payment's row lock: what approved applications and automatic refunds
    took of the payment, plus this one, stays within what was paid."""
    payment = application.payment
    if PaymentReversal.objects.filter(payment_id=payment.pk).exists():
        raise RefundError(_("Refused: this payment was taken back (its bill run was "
                            "reversed) and its money is in the prepaid balance again."))
    taken = (RefundApplication.objects.filter(payment_id=payment.pk, status__in=SET_ASIDE)
             .exclude(pk=application.pk).aggregate(s=Sum("amount_fen"))["s"] or 0)
    taken += (OrderRefund.objects.filter(payment_id=payment.pk)
              .exclude(status=OrderRefund.Status.FAILED)
              .aggregate(s=Sum("amount_fen"))["s"] or 0)
    if taken + application.amount_fen > payment.amount_fen:
        raise RefundError(
            _("Refused: only %(left)s of this payment is left to refund (%(taken)s was "
              "refunded or approved meanwhile), less than the %(amount)s asked.")
            % {"left": format_fen(max(payment.amount_fen - taken, 0)),
               "taken": format_fen(taken), "amount": format_fen(application.amount_fen)})


@transaction.atomic
def refund_reject(*, acting_user, application: RefundApplication,
                  note: str) -> RefundApplication:
    application = _locked(application)
    S = RefundApplication.Status
    if application.status not in (S.SUBMITTED, S.AWAITING_SECOND):
        raise RefundError(_("This application is not awaiting approval."))
    if not may_approve(acting_user, application, second=False):
        raise RefundError(_("You may not decide on this application."))
    note = (note or "").strip()
    if not note:
        raise RefundError(_("Say why the refund is rejected."))
    application.status = S.REJECTED
    application.decided_by, application.decided_at = acting_user, timezone.now()
    application.decision_note = note[:200]
    application.save()
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id, summary=f"rejected: {note[:100]}")
    return application
