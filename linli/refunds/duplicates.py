"""Refunds paid twice (重复退款) and how staff close them, each by posting.

A ``DuplicateRefund`` is made by ``booking.record_duplicate`` when a channel reports
success for a payout that staff had already paid another way: the second outflow is
posted at once (other receivables of the unit ← the channel's account). It stays open
until one of these posts:

- ``duplicate_recover``: the owner gave the money back at the counter, in cash or by
  transfer (the cashier records it; cash is on their 交班表);
- ``duplicate_from_prepaid``: taken from the unit's prepaid balance;
- ``duplicate_ask_write_off`` then ``duplicate_approve_write_off``: written off as a
  loss, asked by one person and approved by another (never the same, superusers
  included).

Locks (``booking.LOCK_ORDER``): the duplicate row (a refund row), then the wallet.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.services import book_memo, post_entry
from linli.money import format_fen
from linli.payments.models import Channel, PrepaidMovement, PrepaidWallet
from linli.payments.services import prepaid_move
from linli.refunds.models import APPROVER_RANK, DuplicateRefund
from linli.refunds.services import RefundError, _is_staff, _role
from linli.staff.models import Role
from linli.staff.scope import community_ids_for

PERMISSION = "refunds.change_refundapplication"
RECOVER_CHANNELS = (Channel.CASH, Channel.TRANSFER)
D = DuplicateRefund.Status


def _locked(acting_user, duplicate: DuplicateRefund, *statuses) -> DuplicateRefund:
    if not (_is_staff(acting_user) and acting_user.has_perm(PERMISSION)
            and duplicate.community_id in community_ids_for(acting_user)):
        raise RefundError(_("You may not resolve this refund paid twice."))
    locked = (DuplicateRefund.objects.select_for_update(no_key=True, of=("self",)).select_related("unit", "payout")
              .get(pk=duplicate.pk))
    if locked.status not in (statuses or DuplicateRefund.OPEN_STATUSES):
        raise RefundError(_("This refund paid twice is already resolved."))
    return locked


def _post(duplicate: DuplicateRefund, acting_user, *, how: str, lines) -> None:
    post_entry(
        community_id=duplicate.community_id,
        business_key=f"refund_duplicate_{how}:{duplicate.payout.out_refund_no}",
        kind=postings.kind_of(postings.refund_duplicate_written_off if how == "write_off"
                              else postings.refund_duplicate_recovered),
        lines=lines, posted_by=acting_user,
        memo=book_memo(gettext_lazy("Refund %(refund)s paid twice: resolved (%(how)s)"),
                       refund=duplicate.payout.out_refund_no, how=how),
    )


def _close(duplicate: DuplicateRefund, acting_user, status: str, summary: str, **fields):
    duplicate.status = status
    duplicate.resolved_by, duplicate.resolved_at = acting_user, timezone.now()
    for name, value in fields.items():
        setattr(duplicate, name, value)
    duplicate.save()
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=duplicate,
                 community_id=duplicate.community_id,
                 summary=f"refund paid twice {format_fen(duplicate.amount_fen)}: {summary}")
    return duplicate


@transaction.atomic
def duplicate_recover(*, acting_user, duplicate: DuplicateRefund, channel: str,
                      reference: str = "") -> DuplicateRefund:
    """The owner paid the second refund back at the counter (cash or transfer)."""
    if channel not in RECOVER_CHANNELS:
        raise RefundError(_("Money paid back is taken in cash or by bank transfer."))
    duplicate = _locked(acting_user, duplicate)
    _post(duplicate, acting_user, how="recovered", lines=postings.refund_duplicate_recovered(
        channel=channel, unit_id=duplicate.unit_id, amount_fen=duplicate.amount_fen))
    return _close(duplicate, acting_user, D.RECOVERED, f"recovered by {channel}",
                  channel=channel, reference=(reference or "")[:64])


@transaction.atomic
def duplicate_from_prepaid(*, acting_user, duplicate: DuplicateRefund) -> DuplicateRefund:
    """Take what the owner owes back from the unit's prepaid balance (all of it)."""
    duplicate = _locked(acting_user, duplicate)
    wallet = PrepaidWallet.objects.select_for_update(no_key=True).filter(unit_id=duplicate.unit_id).first()
    balance = wallet.balance_fen if wallet else 0
    if balance < duplicate.amount_fen:
        raise RefundError(_("The prepaid balance is %(balance)s, less than the %(amount)s "
                            "owed back.") % {"balance": format_fen(balance),
                                             "amount": format_fen(duplicate.amount_fen)})
    prepaid_move(unit=duplicate.unit, delta_fen=-duplicate.amount_fen,
                 kind=PrepaidMovement.Kind.REFUND, payment=None, acting_user=acting_user,
                 business_key=f"refund_duplicate:{duplicate.payout.out_refund_no}")
    _post(duplicate, acting_user, how="prepaid", lines=postings.refund_duplicate_recovered(
        channel=Channel.PREPAID, unit_id=duplicate.unit_id, amount_fen=duplicate.amount_fen))
    return _close(duplicate, acting_user, D.FROM_PREPAID, "taken from the prepaid balance",
                  channel=Channel.PREPAID)


@transaction.atomic
def duplicate_ask_write_off(*, acting_user, duplicate: DuplicateRefund,
                            reason: str) -> DuplicateRefund:
    """Ask for the amount to be written off; someone else approves it."""
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Say why it should be written off."))
    duplicate = _locked(acting_user, duplicate, D.OPEN)
    duplicate.status, duplicate.write_off_asked_by = D.WRITE_OFF_ASKED, acting_user
    duplicate.note = reason[:200]
    duplicate.save(update_fields=["status", "write_off_asked_by", "note"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=duplicate,
                 community_id=duplicate.community_id,
                 summary=f"write-off asked for {format_fen(duplicate.amount_fen)}: "
                         f"{reason[:100]}")
    return duplicate


def write_off_refusal(user, duplicate: DuplicateRefund) -> str:
    """Why ``user`` may not approve the write-off ("" if they may)."""
    if duplicate.status != D.WRITE_OFF_ASKED:
        return _("No write-off has been asked for.")
    if duplicate.write_off_asked_by_id == user.pk:
        return _("You asked for this write-off; someone else must approve it.")
    if APPROVER_RANK.get(_role(user), -1) < APPROVER_RANK[Role.FINANCE]:
        return _("A write-off is approved by finance, a manager or the company admin.")
    return ""


@transaction.atomic
def duplicate_approve_write_off(*, acting_user, duplicate: DuplicateRefund) -> DuplicateRefund:
    duplicate = _locked(acting_user, duplicate, D.WRITE_OFF_ASKED)
    refusal = write_off_refusal(acting_user, duplicate)
    if refusal:
        raise RefundError(refusal)
    _post(duplicate, acting_user, how="write_off", lines=postings.refund_duplicate_written_off(
        unit_id=duplicate.unit_id, amount_fen=duplicate.amount_fen))
    return _close(duplicate, acting_user, D.WRITTEN_OFF, "written off")
