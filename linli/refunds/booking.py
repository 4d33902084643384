"""What a refund changes once its money has gone — and nothing else.

- The refunded bill lines: status ``refunded`` (all the principal paid on the bill is
  back) or ``partially_refunded``; their net (paid − refunded) falls. What a bill
  owes is untouched: a refund reverses the money and the charge together, so it never
  re-opens a bill, and each unit's receivable stays equal to what its bills owe.
- The ledger, one entry per payout (business key ``refund:<out_refund_no>``):
  revenue of the fee item (or deposits held) is debited, the channel's clearing
  account (cash, bank, or the prepaid balance for a prepaid payment) credited.
  A prepaid refund is reserved when its payout starts (prepaid → refunds payable,
  so the balance cannot be spent meanwhile) and paid from refunds payable.
- A refund voucher (退款凭证), numbered, linked to the original receipt.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from linli.billing.models import Bill
from linli.billing.selectors import with_balances
from linli.billing.services.status import lock_bills
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.models import JournalEntry
from linli.ledger.services import book_memo, post_entry
from linli.payments.models import Channel, PrepaidMovement
from linli.payments.services import prepaid_move
from linli.refunds.models import (
    RefundApplication,
    RefundLine,
    RefundPayout,
    RefundVoucher,
    RefundVoucherSequence,
)
from linli.refunds.selectors import bill_refunded_fen


def refund_entry_key(payout: RefundPayout) -> str:
    return f"refund:{payout.out_refund_no}"


def reserve_key(application_id: int) -> str:
    return f"refund_reserve:app{application_id}"


def prepaid_reserve(payout: RefundPayout) -> None:
    """Take a prepaid refund out of the balance into refunds payable, once per
    application (a retry or another route reuses the reservation)."""
    application = payout.application
    if JournalEntry.objects.filter(business_key=reserve_key(application.pk)).exists():
        return
    unit = application.unit
    prepaid_move(unit=unit, delta_fen=-application.amount_fen, kind=PrepaidMovement.Kind.REFUND,
                 payment=application.payment, acting_user=None,
                 business_key=reserve_key(application.pk))
    post_entry(
        community_id=application.community_id, business_key=reserve_key(application.pk),
        kind="refund_reserve",
        lines=postings.refund_reserved(unit_id=unit.pk, amount_fen=application.amount_fen),
        memo=book_memo(gettext_lazy("Refund application #%(application)s: prepaid balance "
                                    "set aside"), application=application.pk),
    )


def _refund_lines(application: RefundApplication, payout: RefundPayout,
                  lines: list[RefundLine]) -> list:
    if application.kind == RefundApplication.Kind.PREPAID:
        return postings.refund_paid_out(channel=payout.channel, unit_id=application.unit_id,
                                        amount_fen=payout.amount_fen, bill_lines=[],
                                        prepaid_fen=application.amount_fen)
    return postings.refund_paid_out(
        channel=payout.channel, unit_id=application.unit_id, amount_fen=payout.amount_fen,
        prepaid_fen=0,
        bill_lines=[(line.fee_item_id, line.amount_fen, line.bill.fee_item.is_deposit)
                    for line in lines])


def book_success(payout: RefundPayout, *, acting_user=None) -> None:
    """The payout's money has gone: book it (caller holds the payout's row lock)."""
    application = RefundApplication.objects.select_related("unit", "payment").get(
        pk=payout.application_id)
    lines = list(application.lines.select_related("bill__fee_item").order_by("id"))
    if application.kind == RefundApplication.Kind.PREPAID:
        prepaid_reserve(payout)
    if payout.channel == Channel.PREPAID:
        prepaid_move(unit=application.unit, delta_fen=payout.amount_fen,
                     kind=PrepaidMovement.Kind.REFUND, payment=application.payment,
                     acting_user=acting_user, business_key=refund_entry_key(payout))
    post_entry(
        community_id=payout.community_id, business_key=refund_entry_key(payout), kind="refund",
        lines=_refund_lines(application, payout, lines),
        memo=book_memo(gettext_lazy("Refund %(refund)s (%(channel)s) of payment #%(payment)s"),
                       refund=payout.out_refund_no, channel=Channel(payout.channel).label,
                       payment=application.payment_id),
        posted_by=acting_user,
    )
    application.status = RefundApplication.Status.REFUNDED
    application.refunded_at = timezone.now()
    application.attention_reason = ""
    application.save(update_fields=["status", "refunded_at", "attention_reason"])
    _mark_bills([line.bill_id for line in lines if line.bill_id])
    voucher_issue(payout)
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"refunded {payout.amount_fen} fen by {payout.channel} "
                         f"({payout.out_refund_no})")


def _mark_bills(bill_ids: list[int]) -> None:
    """Refunded when all the principal paid on the bill is back, else partially."""
    if not bill_ids:
        return
    lock_bills(bill_ids)
    refunded = bill_refunded_fen(bill_ids)
    for bill in with_balances(Bill.objects.filter(pk__in=bill_ids)):
        status = (Bill.Status.REFUNDED if refunded[bill.pk] >= bill.paid_fen
                  else Bill.Status.PARTIALLY_REFUNDED)
        if status != bill.status:
            Bill.objects.filter(pk=bill.pk).update(status=status)


# --- the voucher -------------------------------------------------------------------------


def format_voucher_number(year: int, serial: int) -> str:
    return f"TK-{year:04d}-{serial:06d}"


def _next_serial(community_id: int, year: int) -> int:
    """The next number under the sequence row's lock (held to the end of the caller's
    transaction: no gap, no duplicate)."""
    seq = (RefundVoucherSequence.objects.select_for_update()
           .filter(community_id=community_id, year=year).first())
    if seq is None:
        try:
            with transaction.atomic():
                RefundVoucherSequence.objects.create(community_id=community_id, year=year)
        except IntegrityError:
            pass
        seq = RefundVoucherSequence.objects.select_for_update().get(
            community_id=community_id, year=year)
    RefundVoucherSequence.objects.filter(pk=seq.pk).update(last_serial=F("last_serial") + 1)
    return seq.last_serial + 1


def voucher_issue(payout: RefundPayout) -> RefundVoucher:
    existing = RefundVoucher.objects.filter(payout=payout).first()
    if existing is not None:
        return existing
    from linli.receipts.models import Receipt

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
    from linli.receipts.services import receipt_snapshot

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
