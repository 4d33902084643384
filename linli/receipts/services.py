"""Issuing receipts, and the signed token of the public verify page.

``receipt_issue(payment)`` is called by ``linli.payments.services.payment_record`` at the
end of the transaction that records the payment, so a payment and its receipt commit or
roll back together, and a number is never used by a payment that did not happen.
"""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation

from linli.estate.models import Occupancy, Unit
from linli.payments.models import Channel, Payment, PaymentAllocation
from linli.receipts.models import (
    SNAPSHOT_VERSION,
    Receipt,
    ReceiptSequence,
    ReceiptVoid,
    format_number,
)

# Channels whose payment carries the gateway's transaction id in ``reference``.
GATEWAY_CHANNELS = (Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX)
VERIFY_SALT = "linli.receipts.verify"


class ReceiptError(Exception):
    pass


def receipt_issue(payment: Payment) -> Receipt:
    """The payment's receipt: the existing one, or a new one with the next number of the
    payment's community for this year. Must run inside the transaction that records the
    payment: the number's row lock is held until that transaction ends."""
    existing = Receipt.objects.filter(payment_id=payment.pk).first()
    if existing is not None:
        return existing
    if not transaction.get_connection().in_atomic_block:
        raise ReceiptError("receipt_issue must run inside the payment's transaction")
    issued_at = timezone.now()
    year = timezone.localtime(issued_at).year
    snapshot = receipt_snapshot(payment)
    serial = _next_serial(payment.community_id, year)
    return Receipt.objects.create(
        payment=payment, community_id=payment.community_id, unit_id=payment.unit_id,
        year=year, serial=serial, number=format_number(year, serial), issued_at=issued_at,
        channel=payment.channel, total_fen=payment.amount_fen, snapshot=snapshot,
    )


def receipt_void_for_reversal(reversal) -> ReceiptVoid | None:
    """The payment of ``reversal`` (a ``PaymentReversal``) was taken back whole: void its
    receipt by a new linked record, in the reversal's transaction. Idempotent; a payment
    without a receipt (none should exist) has nothing to void."""
    receipt = Receipt.objects.filter(payment_id=reversal.payment_id).first()
    if receipt is None:
        return None
    existing = ReceiptVoid.objects.filter(receipt=receipt).first()
    if existing is not None:
        return existing
    return ReceiptVoid.objects.create(
        receipt=receipt, community_id=receipt.community_id, payment_reversal=reversal,
        reason=reversal.reason, voided_at=reversal.at or timezone.now(),
        voided_by_id=reversal.by_id)


def _next_serial(community_id: int, year: int) -> int:
    """Take the next number under the sequence row's lock (held to the end of the
    caller's transaction, so concurrent payments of one community queue here)."""
    seq = (ReceiptSequence.objects.select_for_update(no_key=True)
           .filter(community_id=community_id, year=year).first())
    if seq is None:
        try:
            with transaction.atomic():  # a savepoint: a concurrent first insert may win
                ReceiptSequence.objects.create(community_id=community_id, year=year)
        except IntegrityError:
            pass
        seq = ReceiptSequence.objects.select_for_update(no_key=True).get(community_id=community_id,
                                                               year=year)
    ReceiptSequence.objects.filter(pk=seq.pk).update(last_serial=F("last_serial") + 1)
    return seq.last_serial + 1


def receipt_snapshot(payment: Payment) -> dict:
    """Everything the receipt shows, as it stands now (JSON-ready; amounts in fen)."""
    unit = Unit.objects.select_related("building", "community__company").get(pk=payment.unit_id)
    community = unit.community
    allocations = (PaymentAllocation.objects.filter(payment_id=payment.pk)
                   .select_related("bill__fee_item", "bill__parking_space")
                   .order_by("bill__due_date", "bill__fee_item__name", "bill_id"))
    items = [
        {
            "fee_item": a.bill.fee_item.name,
            "space": a.bill.parking_space.code if a.bill.parking_space_id else "",
            "period": a.bill.period_key,
            "principal_fen": a.principal_fen,
            "late_fee_fen": a.late_fee_fen,
        }
        for a in allocations
    ]
    allocated_fen = sum(i["principal_fen"] + i["late_fee_fen"] for i in items)
    with translation.override("zh-hans"):
        channel_label = str(Channel(payment.channel).label)
    gateway = payment.channel in GATEWAY_CHANNELS
    return {
        "v": SNAPSHOT_VERSION,
        "company": community.company.name,
        "company_phone": community.company.phone,
        "community": community.name,
        "unit": str(unit),
        "payer": payment.payer_name or _unit_payer_name(unit, timezone.localdate()),
        "items": items,
        "prepaid_fen": payment.amount_fen - allocated_fen,
        "total_fen": payment.amount_fen,
        "channel": str(payment.channel),
        "channel_label": channel_label,
        "cashier": "" if gateway else _cashier_name(payment),
        "transaction_id": payment.reference if gateway else "",
        "reference": "" if gateway else payment.reference,
        "received_at": timezone.localtime(payment.received_at).isoformat(),
    }


def _unit_payer_name(unit: Unit, today: dt.date) -> str:
    """Who pays the unit's fees today (the payer, else an owner), when the payment
    does not say who paid."""
    occupancy = (Occupancy.objects.filter(unit=unit, start_date__lte=today)
                 .exclude(end_date__lt=today).select_related("person")
                 .order_by("-is_payer", "id").first())
    return occupancy.person.name if occupancy else ""


def _cashier_name(payment: Payment) -> str:
    user = payment.cashier
    if user is None:
        return ""
    staff = getattr(user, "staff", None)
    return (getattr(staff, "display_name", "") or user.get_full_name() or user.get_username())


# --- the verify token ---------------------------------------------------------------


def verify_token(receipt: Receipt) -> str:
    """A token naming the receipt (id and number), signed with the site's secret."""
    return signing.dumps({"i": receipt.pk, "n": receipt.number}, salt=VERIFY_SALT)


def receipt_for_token(token: str) -> Receipt | None:
    """The genuine receipt the token names, or None (forged, altered or unknown)."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("i"), int):
        return None
    receipt = Receipt.objects.select_related("community").filter(pk=data["i"]).first()
    if receipt is None or receipt.number != data.get("n"):
        return None
    return receipt


def mask_name(name: str) -> str:
    """张三明 → 张*明, 张三 → 张*, 欧阳小明 → 欧**明, 张 → *: never the whole name."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
