"""Reversing a bill run (冲销): cancel its bills and mirror its ledger entries.

A run stays reversible after its prepaid auto-offset: each offset payment (one per unit,
made after the run committed, ``payments.services.prepaid_offset_new_bills``) is its
own posting, and the reversal unwinds it first by a new linked record
(``payments.services.prepaid_offset_reverse``: its allocations stop counting as paid,
the wallet is credited back, the payment's entry is mirrored). What a person did to a
bill — paid it at the counter or online, paid it from the balance by hand, adjusted it,
refunded it — blocks the reversal, and the refusal names those bills, why, and what to
do.

Locks: the run row, then its bills in id order (``status.lock_bills``' order), then each
offset's wallet — bills before wallets, the order of every money path.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing import hooks
from linli.billing.models import Bill, BillAdjustment, BillRun
from linli.billing.services.bill_run import BATCH
from linli.core.audit import audit_record
from linli.core.audit import person_or_none as _user
from linli.core.models import AuditEvent
from linli.ledger import services as ledger
from linli.ledger.models import JournalEntry
from linli.payments.models import COUNTER_CHANNELS, Channel, PaymentAllocation, PaymentReversal
from linli.payments.services import offset_payments, prepaid_offset_reverse

BLOCKERS_NAMED = 10


class BillRunReversalError(ValueError):
    pass


@transaction.atomic
def bill_run_reverse(*, acting_user, run: BillRun, reason: str) -> BillRun:
    """Cancel every bill of a run and post the mirror of its entries, unwinding its
    prepaid offsets first — unless a person paid, adjusted or refunded one of its bills
    (``BillRunReversalError`` names them)."""
    run = BillRun.objects.select_for_update(no_key=True).get(pk=run.pk)
    if run.status == BillRun.Status.REVERSED:
        return run
    bills = Bill.objects.filter(bill_run=run)
    _lock_in_id_order(bills)  # no payment may land between the check and the cancelling
    blockers = reversal_blockers(run)
    if blockers:
        raise BillRunReversalError(refusal_text(blockers))
    for payment in offset_payments(run.pk).filter(reversal__isnull=True).order_by("pk"):
        prepaid_offset_reverse(acting_user=acting_user, payment=payment, reason=reason)
    for entry in JournalEntry.objects.filter(business_key__startswith=f"billrun:{run.pk}:issue:"):
        ledger.reverse_entry(entry=entry, memo=reason, posted_by=acting_user)
    bills.update(status=Bill.Status.CANCELLED, run_reversed=True)  # the period may be billed again
    run.status, run.reversed_at, run.reversed_by = (
        BillRun.Status.REVERSED, timezone.now(), _user(acting_user)
    )
    run.save(update_fields=["status", "reversed_at", "reversed_by"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=run,
                 summary=f"reversed: {reason}"[:255])
    return run


def _why_paid(channel: str) -> str:
    if channel in COUNTER_CHANNELS:
        return _("paid at the counter")
    if channel == Channel.PREPAID:
        return _("paid from the prepaid balance by hand")
    return _("paid online")


def reversal_blockers(run: BillRun) -> dict[int, list[str]]:
    """Bills of the run a person acted on, with why: {bill id: [reasons]}. The run's own
    auto-offsets (and payments already reversed) do not block."""
    why: dict[int, list[str]] = defaultdict(list)
    allocations = (
        PaymentAllocation.objects.filter(bill__bill_run=run)
        .exclude(payment__in=offset_payments(run.pk))
        .exclude(payment__in=PaymentReversal.objects.values("payment_id"))
        .values_list("bill_id", "payment__channel").order_by("bill_id").distinct()
    )
    for bill_id, channel in allocations:
        if _why_paid(channel) not in why[bill_id]:
            why[bill_id].append(_why_paid(channel))
    for bill_id in (BillAdjustment.objects.filter(bill__bill_run=run)
                    .exclude(status=BillAdjustment.Status.REJECTED)
                    .values_list("bill_id", flat=True).distinct()):
        why[bill_id].append(_("adjusted (waiver, discount or cancellation)"))
    paid_ids = set(PaymentAllocation.objects.filter(bill__bill_run=run)
                   .values_list("bill_id", flat=True))
    for bill_id in hooks.refunded_fen(paid_ids):
        why[bill_id].append(_("refunded"))
    for bill_id in hooks.refund_claims(paid_ids):
        why[bill_id].append(_("a refund is approved and waiting to be paid"))
    return dict(why)


def refusal_text(blockers: dict[int, list[str]]) -> str:
    """The refusal, in the reader's language: which bills block it (unit, fee item,
    period, why) and what to do."""
    named = list(Bill.objects.filter(pk__in=sorted(blockers)[:BLOCKERS_NAMED])
                 .select_related("unit__building", "parking_space", "fee_item").order_by("pk"))
    items = [
        _("%(target)s %(fee_item)s %(period)s (%(why)s)") % {
            "target": str(bill.parking_space or bill.unit), "fee_item": bill.fee_item.name,
            "period": bill.period_key, "why": _(", ").join(blockers[bill.pk])}
        for bill in named
    ]
    if len(blockers) > len(named):
        items.append(_("and %(n)s more") % {"n": len(blockers) - len(named)})
    return _(
        "This run cannot be reversed: %(n)s of its bills were paid, adjusted or refunded "
        "by people: %(bills)s. Refund those payments and reject or withdraw the "
        "adjustments first, then reverse the run; or keep the run and cancel the wrong "
        "bills one by one."
    ) % {"n": len(blockers), "bills": _("; ").join(items)}


def _lock_in_id_order(bills) -> int:
    """Row-lock ``bills`` in id order, the order payments lock them in
    (``status.lock_bills``), streaming rather than loading a large run's bills."""
    locking = bills.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True)
    return sum(1 for _pk in locking.iterator(chunk_size=BATCH))
