"""Resolving an anomaly: each way is a service with an acting user and a reason, and each
posts its own balanced entry that moves exactly what the anomaly holds in suspense
(``PaymentAnomaly.suspense_fen``), so the suspense account is zero exactly when no open
anomaly holds money.

Money held (suspense_fen > 0: a wrong amount, an unknown order, a trade refunded only
in part outside Linli before it was recorded):

- ``apply_bills``  a payment of the unit's bills whose ledger debit is suspense
                   (suspense → receivable / late fee / prepaid for what is left);
- ``to_prepaid``   the unit's prepaid balance (suspense → prepaid);
- ``refund``       back to the payer through the channel (suspense → refunds payable,
                   then an ``OrderRefund`` with its own out_refund_no);
- ``write_off``    asked for by one person, approved by another (suspense → other income).

Money owed back (suspense_fen < 0: refunded at the channel outside Linli after it was
applied, or a refund the channel paid after it had been settled another way):

- ``recover_prepaid``    taken from the unit's prepaid balance (prepaid → suspense);
- ``recovered_counter``  paid back at the counter, cash or transfer (cash/bank → suspense);
- ``write_off``          asked for by one person, approved by another (losses → suspense).

Nothing held (a late or duplicate payment whose excess sits in the prepaid balance, a
trade refunded in full outside Linli):

- ``keep``     acknowledged: the money stays where it is (no entry);
- ``refund``   the excess back through the channel (prepaid → refunds payable).

Lock order: the anomaly, then payment orders, bills and the wallet (``orders``).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.billing.models import Bill
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.estate.models import Unit
from linli.ledger import postings
from linli.ledger.services import book_memo, post_entry
from linli.money import format_fen
from linli.payments.auto_refunds import refund_from_prepaid, refund_from_suspense
from linli.payments.models import Channel, OrderRefund, PaymentAnomaly, PrepaidMovement
from linli.payments.orders import orders_close_for_bills
from linli.payments.permissions import ResolutionError, require_reason, require_resolver
from linli.payments.services import payment_record, prepaid_move

R = PaymentAnomaly.Resolution
COUNTER_RECOVERY = (Channel.CASH, Channel.TRANSFER)


def resolutions_for(anomaly: PaymentAnomaly) -> list[str]:
    """The ways this anomaly may be resolved now (none once it is resolved)."""
    if not anomaly.is_open:
        return []
    if anomaly.suspense_fen > 0:
        return [R.APPLY_TO_BILLS, R.TO_PREPAID, R.REFUND, R.WRITE_OFF]
    if anomaly.suspense_fen < 0:
        return [R.RECOVER_PREPAID, R.RECOVERED_COUNTER, R.WRITE_OFF]
    ways = [R.KEEP]
    if (anomaly.excess_fen > 0 and anomaly.payment_id and anomaly.order_id
            and not OrderRefund.objects.filter(payment_id=anomaly.payment_id).exists()):
        ways.append(R.REFUND)
    return ways


@transaction.atomic
def anomaly_resolve(*, acting_user, anomaly: PaymentAnomaly, resolution: str, reason: str,
                    unit: Unit | None = None, bill_ids: list[int] | None = None,
                    channel: str | None = None) -> PaymentAnomaly:
    """Resolve ``anomaly`` the way ``resolution`` says (see the module docstring).
    ``unit`` (apply_bills, to_prepaid, recover_prepaid): which unit; by default the
    order's. ``bill_ids`` (apply_bills): which of its bills; by default every open one.
    ``channel`` (recovered_counter): cash or transfer. A write-off asked for by one
    person waits for another's approval (the same call, by someone else)."""
    reason = require_reason(reason)
    require_resolver(acting_user, anomaly.community_id)
    locked = PaymentAnomaly.objects.select_for_update(no_key=True).get(pk=anomaly.pk)
    if resolution not in resolutions_for(locked):
        raise ResolutionError(_("This anomaly cannot be resolved that way (any more)."))
    if resolution == R.WRITE_OFF:
        return _write_off(locked, acting_user, reason)
    payment = None
    if resolution == R.APPLY_TO_BILLS:
        payment = _apply_bills(locked, acting_user, _unit(locked, unit), bill_ids, reason)
    elif resolution == R.TO_PREPAID:
        payment = _to_prepaid(locked, acting_user, _unit(locked, unit), reason)
    elif resolution == R.REFUND:
        _refund(locked, acting_user)
    elif resolution == R.RECOVER_PREPAID:
        _recover(locked, acting_user, Channel.PREPAID, _unit(locked, unit))
    elif resolution == R.RECOVERED_COUNTER:
        if channel not in COUNTER_RECOVERY:
            raise ResolutionError(_("Say whether it was paid back in cash or by transfer."))
        _recover(locked, acting_user, channel, None)
    if resolution in (R.RECOVER_PREPAID, R.RECOVERED_COUNTER):
        locked.resolution_channel = Channel.PREPAID if resolution == R.RECOVER_PREPAID else channel
    return _resolved(locked, acting_user, resolution, reason, payment=payment,
                     unit=unit or locked.resolution_unit)


def _unit(anomaly: PaymentAnomaly, unit: Unit | None) -> Unit:
    unit = unit or anomaly.resolution_unit or (anomaly.order.unit if anomaly.order_id else None)
    if unit is None:
        raise ResolutionError(_("Choose the unit this money belongs to."))
    if unit.community_id != anomaly.community_id:
        raise ResolutionError(_("The unit must be in the anomaly's community."))
    return unit


def _apply_bills(anomaly, acting_user, unit, bill_ids, reason):
    open_ids = set(Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES)
                   .values_list("pk", flat=True))
    bill_ids = sorted(open_ids if bill_ids is None else set(bill_ids))
    if not bill_ids:
        raise ResolutionError(_("This unit has no open bills; move the money to its "
                                "prepaid balance instead."))
    if not set(bill_ids) <= open_ids:
        raise ResolutionError(_("Only open bills of the chosen unit can be paid."))
    orders_close_for_bills(bill_ids, acting_user=acting_user)  # lock order: orders first
    return _suspense_payment(anomaly, acting_user, unit, bill_ids, reason,
                             PrepaidMovement.Kind.EXCESS)


def _to_prepaid(anomaly, acting_user, unit, reason):
    return _suspense_payment(anomaly, acting_user, unit, [], reason,
                             PrepaidMovement.Kind.DEPOSIT)


def _suspense_payment(anomaly, acting_user, unit, bill_ids, reason, excess_kind):
    """A payment of the held money: its ledger debit is suspense (``Channel.SUSPENSE``)."""
    return payment_record(
        acting_user=acting_user, unit=unit, channel=Channel.SUSPENSE,
        amount_fen=anomaly.suspense_fen, bill_ids=bill_ids,
        idempotency_key=f"anomaly:{anomaly.pk}", reference=anomaly.transaction_id,
        note=f"{anomaly.get_channel_display()} {anomaly.transaction_id}: {reason}"[:200],
        excess_kind=excess_kind,
    )


def _refund(anomaly, acting_user) -> OrderRefund:
    if anomaly.suspense_fen > 0:
        return refund_from_suspense(anomaly=anomaly, acting_user=acting_user)
    order = anomaly.order
    return refund_from_prepaid(
        order=order, payment=anomaly.payment, anomaly=anomaly, amount_fen=anomaly.excess_fen,
        acting_user=acting_user, out_refund_no=f"RA{anomaly.pk:08d}{order.out_trade_no[-8:]}")


def _recover(anomaly, acting_user, channel: str, unit: Unit | None) -> None:
    """Money owed back to suspense comes from the unit's prepaid balance or the counter."""
    amount_fen = -anomaly.suspense_fen
    key = f"anomaly_resolve:{anomaly.pk}"
    if channel == Channel.PREPAID:
        prepaid_move(unit=unit, delta_fen=-amount_fen, kind=PrepaidMovement.Kind.REFUND,
                     payment=anomaly.payment, acting_user=acting_user, business_key=key)
    post_entry(
        community_id=anomaly.community_id, business_key=key,
        kind=postings.kind_of(postings.suspense_recovered),
        lines=postings.suspense_recovered(channel=channel, amount_fen=amount_fen,
                                          unit_id=unit.pk if unit else None),
        memo=book_memo(gettext_lazy("Anomaly #%(anomaly)s: %(amount)s recovered by "
                                    "%(channel)s"), anomaly=anomaly.pk,
                       amount=format_fen(amount_fen), channel=Channel(channel).label),
        posted_by=acting_user,
    )


def _write_off(anomaly, acting_user, reason) -> PaymentAnomaly:
    """First call: asked for. Second call, by someone else: approved and posted."""
    if anomaly.write_off_requested_by_id is None:
        anomaly.write_off_requested_by = acting_user
        anomaly.write_off_requested_at = timezone.now()
        anomaly.write_off_reason = reason
        anomaly.save(update_fields=["write_off_requested_by", "write_off_requested_at",
                                    "write_off_reason"])
        audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=anomaly,
                     community_id=anomaly.community_id,
                     summary=f"write-off of {format_fen(anomaly.suspense_fen)} asked for: "
                             f"{reason}"[:255])
        return anomaly
    if anomaly.write_off_requested_by_id == acting_user.pk:
        raise ResolutionError(_("A write-off must be approved by someone other than the "
                                "person who asked for it."))
    held = anomaly.suspense_fen
    rule = postings.suspense_written_off if held > 0 else postings.suspense_shortfall_written_off
    post_entry(
        community_id=anomaly.community_id, business_key=f"anomaly_resolve:{anomaly.pk}",
        kind=postings.kind_of(rule), lines=rule(amount_fen=abs(held)),
        memo=book_memo(gettext_lazy("Anomaly #%(anomaly)s: %(amount)s written off"),
                       anomaly=anomaly.pk, amount=format_fen(abs(held))),
        posted_by=acting_user,
    )
    return _resolved(anomaly, acting_user, R.WRITE_OFF, reason, payment=None, unit=None)


def _resolved(anomaly, acting_user, resolution, reason, *, payment, unit) -> PaymentAnomaly:
    anomaly.status = PaymentAnomaly.Status.RESOLVED
    anomaly.resolution = resolution
    anomaly.resolved_by = acting_user
    anomaly.resolved_at = timezone.now()
    anomaly.resolution_note = reason
    anomaly.resolution_payment = payment
    if unit is not None:
        anomaly.resolution_unit = unit
    anomaly.save()
    audit_record(actor=acting_user, action=AuditEvent.Action.CHANGE, obj=anomaly,
                 community_id=anomaly.community_id,
                 summary=f"resolved ({resolution}), {format_fen(abs(anomaly.suspense_fen))} "
                         f"{'held' if anomaly.suspense_fen >= 0 else 'owed'}: {reason}"[:255])
    return anomaly
