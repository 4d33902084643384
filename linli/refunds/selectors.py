"""Reading refunds: the policy in force, what a payment may still have refunded (with
the reason when nothing may), and collected / refunded / net figures per fee item.

What is "taken" of a payment or a bill line counts every application that is open or
refunded (an open one may still become money), so two applications can never together
ask for more than was paid. The services re-check under the payment's row lock.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import Bill, FeeItem
from linli.money import format_fen
from linli.payments.models import (
    OrderRefund,
    Payment,
    PaymentAllocation,
    PaymentReversal,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.refunds.models import (
    APPROVER_ROLES,
    RefundApplication,
    RefundLine,
    RefundPayout,
    RefundPolicy,
)

TAKING = (*RefundApplication.OPEN_STATUSES, RefundApplication.Status.REFUNDED)


def default_policy(community_id: int) -> RefundPolicy:
    """What applies where a community has written no policy (unsaved)."""
    return RefundPolicy(community_id=community_id)


def policy_for(community_id: int, fee_item_id: int | None) -> RefundPolicy:
    """The fee item's own policy, else the community's default, else ``default_policy``."""
    rows = {p.fee_item_id: p for p in RefundPolicy.objects.filter(
        Q(fee_item__isnull=True) | Q(fee_item_id=fee_item_id), community_id=community_id)}
    return rows.get(fee_item_id) or rows.get(None) or default_policy(community_id)


def policy_text(policy: RefundPolicy) -> list[str]:
    """The policy in plain words, for owners (translated: plain Chinese by default)."""
    if not policy.refundable:
        return [_("These fees are not refundable.")]
    lines = [_("Apply within %(days)s days of paying.") % {"days": policy.window_days}]
    if policy.future_periods:
        lines.append(_("Months (periods) that have not started yet are refunded in full."))
    if policy.prorata:
        lines.append(_("For the period in progress, the days not yet used are refunded."))
    else:
        lines.append(_("A period that has started is not refunded."))
    if policy.deposits:
        lines.append(_("Deposits are refunded when they are released."))
    if policy.prepaid:
        lines.append(_("Your prepaid balance can be refunded."))
    role = dict(APPROVER_ROLES).get(policy.approver_role, policy.approver_role)
    if policy.approval == RefundPolicy.Approval.ALWAYS or policy.approval_above_fen == 0:
        lines.append(_("Every refund is reviewed by the management office (%(role)s).")
                     % {"role": role})
    else:
        lines.append(_("Refunds above %(amount)s are reviewed by the management office "
                       "(%(role)s); smaller ones are paid back at once.")
                     % {"amount": format_fen(policy.approval_above_fen), "role": role})
    lines.append(_("The money goes back the way you paid."))
    return lines


# --- what may be refunded ------------------------------------------------------------


@dataclass
class LineOption:
    bill: Bill
    paid_fen: int          # principal this payment paid on the bill
    taken_fen: int         # already applied for (open or refunded applications)
    max_fen: int           # the most that may still be applied for
    basis: str = ""
    reason: str = ""       # why nothing (more) may be refunded

    @property
    def refundable(self) -> bool:
        return self.max_fen > 0


@dataclass
class Refundable:
    payment: Payment
    remaining_fen: int                 # what the payment can still give back at all
    lines: list[LineOption] = field(default_factory=list)
    prepaid_max_fen: int = 0
    prepaid_reason: str = ""
    reason: str = ""                   # why nothing at all may be refunded

    @property
    def max_fen(self) -> int:
        lines = sum(o.max_fen for o in self.lines)
        return min(self.remaining_fen, lines + self.prepaid_max_fen)

    def line(self, bill_id: int) -> LineOption | None:
        return next((o for o in self.lines if o.bill.pk == bill_id), None)


def _payouts_held_fen(payment_id: int) -> int:
    return RefundPayout.objects.filter(
        payment_id=payment_id, status__in=RefundPayout.HOLDING,
    ).aggregate(s=Sum("amount_fen"))["s"] or 0


def _auto_refunded_fen(payment_id: int) -> int:
    """Automatic refunds of excess (payments app), unless they failed."""
    return OrderRefund.objects.filter(payment_id=payment_id).exclude(
        status=OrderRefund.Status.FAILED).aggregate(s=Sum("amount_fen"))["s"] or 0


def payment_held_fen(payment_id: int) -> int:
    """What of a payment has gone back or may be going back: payouts that hold money
    (sent, processing, done, abnormal) and automatic refunds not failed."""
    return _payouts_held_fen(payment_id) + _auto_refunded_fen(payment_id)


def payment_applied_fen(payment_id: int, *, exclude_id: int | None = None) -> int:
    """What open or refunded applications of a payment ask for."""
    qs = RefundApplication.objects.filter(payment_id=payment_id, status__in=TAKING)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    return qs.aggregate(s=Sum("amount_fen"))["s"] or 0


def refundable_for_payment(payment: Payment, *, today: dt.date | None = None,
                           exclude_id: int | None = None) -> Refundable:
    """What of ``payment`` may still be applied for under the policy, line by line,
    each with its maximum and (when it is zero) the reason."""
    today = today or timezone.localdate()
    # Every payout belongs to an application, so the larger of the two is what
    # applications hold; automatic refunds of excess come on top.
    remaining = payment.amount_fen - _auto_refunded_fen(payment.pk) - max(
        _payouts_held_fen(payment.pk), payment_applied_fen(payment.pk, exclude_id=exclude_id))
    taken_back = PaymentReversal.objects.filter(payment_id=payment.pk).exists()
    if taken_back:  # a reversed run's offset: its money is in the wallet again
        remaining = 0
    result = Refundable(payment=payment, remaining_fen=max(remaining, 0))
    default = policy_for(payment.community_id, None)
    received_on = timezone.localtime(payment.received_at).date()
    taken = _taken_by_bill(payment.pk, exclude_id)
    allocations = (PaymentAllocation.objects.filter(payment=payment, principal_fen__gt=0)
                   .select_related("bill__fee_item").order_by("bill__period_start", "bill_id"))
    for allocation in allocations:
        bill = allocation.bill
        policy = policy_for(payment.community_id, bill.fee_item_id)
        option = LineOption(bill=bill, paid_fen=allocation.principal_fen,
                            taken_fen=taken.get(bill.pk, 0), max_fen=0)
        if _outside_window(policy, received_on, today, option):
            result.lines.append(option)
            continue
        basis, allowed, why = line_allowance(policy, bill, allocation.principal_fen, today)
        option.basis, option.reason = basis, why
        option.max_fen = max(0, min(allowed - option.taken_fen, result.remaining_fen))
        if allowed and not option.max_fen and not option.reason:
            option.reason = _("Already applied for or refunded.")
        result.lines.append(option)
    _prepaid_option(result, default, received_on, today, exclude_id)
    if taken_back:
        result.reason = _("This payment was taken back (its bill run was reversed): its "
                          "money is in the prepaid balance again.")
    elif result.remaining_fen <= 0:
        result.reason = _("This payment has been refunded in full (or is being refunded).")
    elif result.max_fen <= 0:
        result.reason = _("Nothing of this payment may be refunded under the refund policy.")
    return result


def _outside_window(policy, received_on, today, option) -> bool:
    if not policy.refundable:
        option.reason = _("These fees are not refundable.")
        return True
    if today > received_on + dt.timedelta(days=policy.window_days):
        option.reason = (_("Refunds must be applied for within %(days)s days of paying.")
                         % {"days": policy.window_days})
        return True
    return False


def line_allowance(policy: RefundPolicy, bill: Bill, paid_fen: int,
                   today: dt.date) -> tuple[str, int, str]:
    """(basis, how much of ``paid_fen`` the policy allows back, reason if nothing).
    Pro rata counts the days after ``today`` to the period's end and rounds down: the
    owner is never refunded a day that was used."""
    if bill.fee_item.is_deposit:
        if policy.deposits:
            return RefundLine.Basis.DEPOSIT, paid_fen, ""
        return "", 0, _("Deposits are not refundable.")
    if today < bill.period_start:
        if policy.future_periods:
            return RefundLine.Basis.FUTURE, paid_fen, ""
        return "", 0, _("Periods not yet started are not refundable.")
    if today <= bill.period_end:
        if not policy.prorata:
            return "", 0, _("This period has started; it is not refundable.")
        total_days = (bill.period_end - bill.period_start).days + 1
        unused_days = (bill.period_end - today).days
        allowed = paid_fen * unused_days // total_days
        if allowed <= 0:
            return "", 0, _("No unused days are left in this period.")
        return RefundLine.Basis.PRORATA, allowed, ""
    return "", 0, _("This period has passed; it is not refundable.")


def _taken_by_bill(payment_id: int, exclude_id: int | None) -> dict[int, int]:
    qs = RefundLine.objects.filter(application__payment_id=payment_id,
                                   application__status__in=TAKING, bill__isnull=False)
    if exclude_id:
        qs = qs.exclude(application_id=exclude_id)
    return dict(qs.values("bill_id").annotate(s=Sum("amount_fen")).values_list("bill_id", "s"))


def _prepaid_option(result: Refundable, policy: RefundPolicy, received_on, today,
                    exclude_id) -> None:
    payment = result.payment
    brought_in = PrepaidMovement.objects.filter(
        payment=payment, kind__in=[PrepaidMovement.Kind.DEPOSIT, PrepaidMovement.Kind.EXCESS]
    ).aggregate(s=Sum("amount_fen"))["s"] or 0
    if brought_in <= 0:
        return
    if not policy.refundable or not policy.prepaid:
        result.prepaid_reason = _("Prepaid balances are not refundable.")
        return
    if today > received_on + dt.timedelta(days=policy.window_days):
        result.prepaid_reason = (_("Refunds must be applied for within %(days)s days of "
                                   "paying.") % {"days": policy.window_days})
        return
    qs = RefundLine.objects.filter(application__payment=payment, application__status__in=TAKING,
                                   basis=RefundLine.Basis.PREPAID)
    if exclude_id:
        qs = qs.exclude(application_id=exclude_id)
    taken = qs.aggregate(s=Sum("amount_fen"))["s"] or 0
    wallet = PrepaidWallet.objects.filter(unit_id=payment.unit_id).first()
    balance = wallet.balance_fen if wallet else 0
    result.prepaid_max_fen = max(0, min(brought_in - taken, balance, result.remaining_fen))
    if not result.prepaid_max_fen:
        result.prepaid_reason = _("No prepaid balance from this payment is left to refund.")


def refundable_payments(unit_ids, *, today: dt.date | None = None) -> list[Refundable]:
    """Recent payments of these units with what each may still have refunded."""
    payments = (Payment.objects.filter(unit_id__in=list(unit_ids))
                .exclude(channel="prepaid").select_related("unit").order_by("-received_at")[:30])
    return [refundable_for_payment(p, today=today) for p in payments]


# --- figures for reports -------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    fee_item_id: int
    fee_item: str
    gross_fen: int
    refunded_fen: int

    @property
    def net_fen(self) -> int:
        return self.gross_fen - self.refunded_fen


def collected_by_fee_item(*, community_id: int, period_key: str) -> dict[int, Collected]:
    """Per fee item, for bills of one period: principal collected (gross), what was
    refunded (money gone only) and net. Late fees are not in these figures."""
    gross = dict(
        PaymentAllocation.objects.filter(bill__community_id=community_id,
                                         bill__period_key=period_key)
        .values("bill__fee_item_id").annotate(s=Sum("principal_fen"))
        .values_list("bill__fee_item_id", "s"))
    refunded = dict(
        RefundLine.objects.filter(bill__community_id=community_id, bill__period_key=period_key,
                                  application__status=RefundApplication.Status.REFUNDED)
        .values("bill__fee_item_id").annotate(s=Sum("amount_fen"))
        .values_list("bill__fee_item_id", "s"))
    names = dict(FeeItem.objects.filter(pk__in=set(gross) | set(refunded))
                 .values_list("pk", "name"))
    return {
        item_id: Collected(item_id, names.get(item_id, ""), gross.get(item_id, 0) or 0,
                           refunded.get(item_id, 0) or 0)
        for item_id in sorted(set(gross) | set(refunded))
    }


def bill_refunded_fen(bill_ids) -> dict[int, int]:
    """Principal refunded (money gone) per bill."""
    return defaultdict(int, RefundLine.objects.filter(
        bill_id__in=list(bill_ids), application__status=RefundApplication.Status.REFUNDED)
        .values("bill_id").annotate(s=Sum("amount_fen")).values_list("bill_id", "s"))
