"""What a refund changes in the books — and, once its money has gone, nothing else.

Lock order (every money path, payments and refunds alike; see ``LOCK_ORDER``)::

    payment orders (by id) → refund rows (payment → application → payout)
    → bills (by id) → prepaid wallet → number sequences (receipts, vouchers)

Refund rows are locked only by refunds and always first, so the part that matters is
the one payments follow too: bills before the wallet, never the other way round.

- Approval sets the amount aside (``reserve``, business key ``refund_reserve:app<id>``):
  revenue of the fee item (or deposits held, or the prepaid balance — taken out of the
  wallet at once, so it cannot be spent meanwhile) is debited, refunds payable credited.
  A prepaid balance that is no longer there refuses the approval.
- The money going (``book_success``, key ``refund:<out_refund_no>``): refunds payable is
  debited, the channel's account (cash, bank, clearing, or the prepaid balance for a
  payment made from it) credited; the bill lines' status follows (``_mark_bills``);
  a refund voucher (退款凭证), numbered, linked to the original receipt. Any route —
  the gateway, a retry with the same number, cash or transfer at the counter — pays
  the same reservation, once.
- Cancelling an application that cannot be paid (``unreserve``) reverses the
  reservation and gives a prepaid balance back.
- A channel success for a payout already settled another way (``record_duplicate``):
  the unit owes the second outflow back (``refunds.duplicates``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.billing.services.status import bills_refresh_status, lock_bills
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.models import JournalEntry
from linli.ledger.services import book_memo, post_entry, reverse_entry
from linli.money import format_fen
from linli.payments.models import Channel, PrepaidMovement, PrepaidWallet
from linli.payments.services import prepaid_move
from linli.receipts.models import Receipt
from linli.receipts.services import receipt_snapshot
from linli.refunds.models import (
    DuplicateRefund,
    RefundApplication,
    RefundLine,
    RefundPayout,
    RefundVoucher,
    RefundVoucherSequence,
)

LOCK_ORDER = ("payment orders by id", "refund payment", "refund application", "refund payout",
              "bills by id", "prepaid wallet", "number sequences")


class SourceGone(Exception):
    """The money a refund was to come from is no longer there (the reason says what)."""


def refund_entry_key(payout: RefundPayout) -> str:
    return f"refund:{payout.out_refund_no}"


def reserve_key(application_id: int) -> str:
    return f"refund_reserve:app{application_id}"


def duplicate_key(payout: RefundPayout) -> str:
    return f"refund_duplicate:{payout.out_refund_no}"


def is_reserved(application_id: int) -> bool:
    return JournalEntry.objects.filter(business_key=reserve_key(application_id)).exists()


def _bill_ids(application: RefundApplication) -> list[int]:
    return sorted(application.lines.filter(bill__isnull=False).values_list("bill_id", flat=True))


def reserve(application: RefundApplication, *, acting_user=None) -> None:
    """Set an approved application's amount aside in refunds payable, once (the caller
    holds the payment's and the application's row locks). A prepaid refund leaves the
    wallet here; ``SourceGone`` when the balance is no longer there."""
    if is_reserved(application.pk):
        return
    lines = list(application.lines.select_related("bill__fee_item").order_by("id"))
    prepaid_fen = sum(line.amount_fen for line in lines if line.basis == RefundLine.Basis.PREPAID)
    if prepaid_fen:
        wallet = (PrepaidWallet.objects.select_for_update(no_key=True)
                  .filter(unit_id=application.unit_id).first())
        balance = wallet.balance_fen if wallet else 0
        if balance < prepaid_fen:
            raise SourceGone(
                _("The prepaid balance is %(balance)s now, less than the %(amount)s to "
                  "refund: it was spent meanwhile.")
                % {"balance": format_fen(balance), "amount": format_fen(prepaid_fen)})
        prepaid_move(unit=application.unit, delta_fen=-prepaid_fen,
                     kind=PrepaidMovement.Kind.REFUND, payment=application.payment,
                     acting_user=acting_user, business_key=reserve_key(application.pk))
    post_entry(
        community_id=application.community_id, business_key=reserve_key(application.pk),
        kind=postings.kind_of(postings.refund_approved),
        lines=postings.refund_approved(
            unit_id=application.unit_id, amount_fen=application.amount_fen,
            prepaid_fen=prepaid_fen,
            bill_lines=[(line.fee_item_id, line.amount_fen, line.bill.fee_item.is_deposit)
                        for line in lines if line.bill_id]),
        memo=book_memo(gettext_lazy("Refund application #%(application)s approved: set "
                                    "aside"), application=application.pk),
        posted_by=acting_user,
    )


def unreserve(application: RefundApplication, *, acting_user) -> None:
    """Reverse an application's reservation (it is cancelled; no money went)."""
    entry = JournalEntry.objects.filter(business_key=reserve_key(application.pk)).first()
    if entry is None:
        return
    prepaid_fen = sum(line.amount_fen for line in application.lines.all()
                      if line.basis == RefundLine.Basis.PREPAID)
    if prepaid_fen:
        prepaid_move(unit=application.unit, delta_fen=prepaid_fen,
                     kind=PrepaidMovement.Kind.REFUND, payment=application.payment,
                     acting_user=acting_user, business_key=f"refund_cancel:app{application.pk}")
    reverse_entry(entry=entry, posted_by=acting_user, memo=book_memo(
        gettext_lazy("Refund application #%(application)s cancelled"),
        application=application.pk))


def book_success(payout: RefundPayout, *, acting_user=None) -> None:
    """The payout's money has gone: book it (the caller holds the payment's, the
    application's and the payout's row locks; bills, then the wallet, are locked here)."""
    application = RefundApplication.objects.select_related("unit", "payment").get(
        pk=payout.application_id)
    bill_ids = _bill_ids(application)
    lock_bills(bill_ids)
    reserve(application, acting_user=acting_user)  # approved before reservations existed
    if payout.channel == Channel.PREPAID:
        prepaid_move(unit=application.unit, delta_fen=payout.amount_fen,
                     kind=PrepaidMovement.Kind.REFUND, payment=application.payment,
                     acting_user=acting_user, business_key=refund_entry_key(payout))
    post_entry(
        community_id=payout.community_id, business_key=refund_entry_key(payout),
        kind=postings.kind_of(postings.refund_paid_out),
        lines=postings.refund_paid_out(channel=payout.channel, unit_id=application.unit_id,
                                       amount_fen=payout.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s (%(channel)s) of payment #%(payment)s"),
                       refund=payout.out_refund_no, channel=Channel(payout.channel).label,
                       payment=application.payment_id),
        posted_by=acting_user,
    )
    application.status = RefundApplication.Status.REFUNDED
    application.refunded_at = timezone.now()
    application.attention_reason = ""
    application.save(update_fields=["status", "refunded_at", "attention_reason"])
    _mark_bills(bill_ids)
    voucher_issue(payout)
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"refunded {format_fen(payout.amount_fen)} by {payout.channel} "
                         f"({payout.out_refund_no})")


def record_duplicate(payout: RefundPayout, *, refund_id: str = "") -> DuplicateRefund:
    """The channel refunded a payout that had been given up for another way (the caller
    holds the payout's row lock): post the second outflow and flag it for staff."""
    existing = DuplicateRefund.objects.filter(payout=payout).first()
    if existing is not None:
        return existing
    application = payout.application
    payout.status, payout.refund_id = RefundPayout.Status.LATE_SUCCESS, refund_id[:64] or \
        payout.refund_id
    payout.save(update_fields=["status", "refund_id"])
    duplicate = DuplicateRefund.objects.create(
        community_id=payout.community_id, unit_id=application.unit_id,
        application=application, payout=payout, amount_fen=payout.amount_fen)
    post_entry(
        community_id=payout.community_id, business_key=duplicate_key(payout),
        kind=postings.kind_of(postings.refund_paid_twice),
        lines=postings.refund_paid_twice(channel=payout.channel, unit_id=application.unit_id,
                                         amount_fen=payout.amount_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s returned by %(channel)s after it was "
                                    "paid another way: the owner owes it back"),
                       refund=payout.out_refund_no, channel=Channel(payout.channel).label),
    )
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=application,
                 community_id=application.community_id,
                 summary=f"refund paid twice: {payout.out_refund_no} "
                         f"{format_fen(payout.amount_fen)} returned by {payout.channel} "
                         f"after it was paid another way")
    return duplicate


def _mark_bills(bill_ids: list[int]) -> None:
    """The refunded bills' status follows their money (``billing.services.status``:
    refunded, partially refunded — or still payable while they owe something)."""
    if not bill_ids:
        return
    lock_bills(bill_ids)
    bills_refresh_status(bill_ids)


# --- the voucher -------------------------------------------------------------------------


def format_voucher_number(year: int, serial: int) -> str:
    return f"TK-{year:04d}-{serial:06d}"


def _next_serial(community_id: int, year: int) -> int:
    """The next number under the sequence row's lock (held to the end of the caller's
    transaction: no gap, no duplicate)."""
    seq = (RefundVoucherSequence.objects.select_for_update(no_key=True)
           .filter(community_id=community_id, year=year).first())
    if seq is None:
        try:
            with transaction.atomic():
                RefundVoucherSequence.objects.create(community_id=community_id, year=year)
        except IntegrityError:
            pass
        seq = RefundVoucherSequence.objects.select_for_update(no_key=True).get(
            community_id=community_id, year=year)
    RefundVoucherSequence.objects.filter(pk=seq.pk).update(last_serial=F("last_serial") + 1)
    return seq.last_serial + 1


def voucher_issue(payout: RefundPayout) -> RefundVoucher:
    existing = RefundVoucher.objects.filter(payout=payout).first()
    if existing is not None:
        return existing
    issued_at = timezone.now()
    year = timezone.localtime(issued_at).year
    receipt = Receipt.objects.filter(payment_id=payout.payment_id).first()
    snapshot = voucher_snapshot(payout, receipt)
    serial = _next_serial(payout.community_id, year)
    return RefundVoucher.objects.create(
        payout=payout, community_id=payout.community_id, receipt=receipt, year=year,
        serial=serial, number=format_voucher_number(year, serial), issued_at=issued_at,
        total_fen=payout.amount_fen, snapshot=snapshot,
    )


def voucher_snapshot(payout: RefundPayout, receipt) -> dict:
    """Everything the voucher shows, frozen as it stands now (amounts in fen)."""
    application = payout.application
    original = receipt.snapshot if receipt is not None else receipt_snapshot(payout.payment)
    items = [
        {"fee_item": line.bill.fee_item.name if line.bill_id else "",
         "period": line.bill.period_key if line.bill_id else "",
         "basis": str(line.basis), "amount_fen": line.amount_fen}
        for line in application.lines.select_related("bill__fee_item").order_by("id")
    ]
    with translation.override("zh-hans"):
        channel_label = str(Channel(payout.channel).label)
        basis_labels = {k: str(v) for k, v in RefundLine.Basis.choices}
    for item in items:
        item["basis_label"] = basis_labels.get(item["basis"], "")
    return {
        "v": 1,
        "company": original.get("company", ""),
        "company_phone": original.get("company_phone", ""),
        "community": original.get("community", ""),
        "unit": original.get("unit", ""),
        "payer": original.get("payer", ""),
        "receipt_number": receipt.number if receipt is not None else "",
        "paid_fen": payout.payment.amount_fen,
        "paid_at": original.get("received_at", ""),
        "items": items,
        "total_fen": payout.amount_fen,
        "channel": str(payout.channel),
        "channel_label": channel_label,
        "out_refund_no": payout.out_refund_no,
        "refund_id": payout.refund_id,
        "reference": payout.reference,
        "reason": application.reason,
        "application": application.pk,
        "refunded_at": timezone.localtime(payout.finished_at or timezone.now()).isoformat(),
    }
