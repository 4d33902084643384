"""Recording money received and settling bills with it.

One call records one payment: it locks the bills (in id order), allocates the money to
each bill's principal and then its late fee, keeps any excess as prepaid balance,
updates the bills' status and posts one balanced ledger entry. Idempotent by
``idempotency_key``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import Bill
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.billing.services.status import bill_status_for, bills_refresh_status, lock_bills
from linli.core.audit import audit_record
from linli.core.audit import person_or_none as _user
from linli.core.models import AuditEvent
from linli.estate.models import Unit
from linli.ledger import postings
from linli.ledger.models import JournalEntry
from linli.ledger.services import book_memo, post_entry, reverse_entry
from linli.money import format_fen
from linli.payments import hooks
from linli.payments.models import (
    Channel,
    Payment,
    PaymentAllocation,
    PaymentReversal,
    PrepaidMovement,
    PrepaidWallet,
)


class PaymentError(ValidationError):
    pass


@dataclass(frozen=True)
class Allocation:
    bill: Bill
    principal_fen: int
    late_fee_fen: int


def allocate(amount_fen: int, bills: list[Bill], *, as_of: dt.date) -> tuple[list[Allocation], int]:
    """Split ``amount_fen`` over bills (earliest due first): principal, then late fee.
    Returns the allocations and what is left over. ``bills`` carry balances."""
    remaining, result = amount_fen, []
    for bill in sorted(bills, key=lambda b: (b.due_date, b.pk)):
        if bill.status not in Bill.OPEN_STATUSES:
            continue
        principal = min(remaining, max(bill.owed_fen, 0))
        remaining -= principal
        late = min(remaining, late_fee_due_fen(bill, as_of=as_of))
        remaining -= late
        if principal or late:
            result.append(Allocation(bill, principal, late))
    return result, remaining


def amount_due_fen(bills: list[Bill], *, as_of: dt.date) -> int:
    """What settling these bills in full costs on ``as_of`` (principal + late fees)."""
    return sum(
        max(b.owed_fen, 0) + late_fee_due_fen(b, as_of=as_of)
        for b in bills
        if b.status in Bill.OPEN_STATUSES
    )


@transaction.atomic
def payment_record(
    *,
    acting_user,
    unit: Unit,
    channel: str,
    amount_fen: int,
    bill_ids: list[int],
    idempotency_key: str,
    received_at: dt.datetime | None = None,
    reference: str = "",
    payer_name: str = "",
    note: str = "",
    excess_kind: str = PrepaidMovement.Kind.EXCESS,
) -> Payment:
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise PaymentError(_("The amount must be more than zero."))
    if channel not in Channel.values:
        raise PaymentError(_("Unknown payment channel."))
    received_at = received_at or timezone.now()
    # Lock first (id order), then read the balances once: nothing can change them now.
    bills = _lock_with_balances(bill_ids)
    if len(bills) != len(set(bill_ids)) or any(b.unit_id != unit.pk for b in bills):
        raise PaymentError(_("Every bill must belong to the unit being paid for."))
    allocations, excess_fen = allocate(
        amount_fen, bills, as_of=timezone.localtime(received_at).date()
    )
    if channel == Channel.PREPAID and excess_fen:
        raise PaymentError(_("A payment from the prepaid balance cannot exceed what is owed."))
    payment = Payment.objects.create(
        community_id=unit.community_id, unit=unit, channel=channel, amount_fen=amount_fen,
        received_at=received_at, cashier=_user(acting_user), payer_name=payer_name,
        reference=reference, idempotency_key=idempotency_key, note=note,
    )
    PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment=payment, bill=a.bill, principal_fen=a.principal_fen,
                          late_fee_fen=a.late_fee_fen)
        for a in allocations
    )
    if channel == Channel.PREPAID:
        prepaid_move(unit=unit, delta_fen=-amount_fen, kind=PrepaidMovement.Kind.OFFSET,
                     payment=payment, acting_user=acting_user)
    if excess_fen:
        prepaid_move(unit=unit, delta_fen=excess_fen, kind=excess_kind, payment=payment,
                     acting_user=acting_user)
    _refresh_paid_bills(allocations)
    post_entry(
        community_id=unit.community_id,
        business_key=f"payment:{payment.pk}",
        kind="payment",
        lines=payment_lines(payment, allocations, excess_fen),
        effective_on=timezone.localtime(received_at).date(),
        memo=book_memo("%(channel)s %(reference)s", channel=Channel(payment.channel).label,
                       reference=reference).strip(),
        posted_by=acting_user,
    )
    audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=payment,
                 summary=f"{channel} {format_fen(amount_fen)}, {len(allocations)} bill(s)")
    payment.excess_fen = excess_fen  # for callers (not stored: the movement is)
    issue = _receipt_issuer()
    if issue is not None:
        issue(payment)
    return payment


def _lock_with_balances(bill_ids) -> list[Bill]:
    """Lock the bills in id order, then read them with their balances (one query each)."""
    if not bill_ids:
        return []
    lock_bills(bill_ids)
    return list(with_balances(Bill.objects.filter(pk__in=bill_ids)).order_by("pk"))


def _refresh_paid_bills(allocations: list[Allocation]) -> None:
    """Store the status each allocated bill has now, from the balances read under lock
    plus what this payment allocated (no second read). Allocated bills were open, so none
    is cancelled; ``bill_status_for`` is the one rule."""
    for a in allocations:
        bill = a.bill
        bill.paid_fen += a.principal_fen
        bill.owed_fen -= a.principal_fen
        status = bill_status_for(bill, cancelled=False)
        if status != bill.status:
            Bill.objects.filter(pk=bill.pk).update(status=status)
            bill.status = status


# The receipts app sits above payments (it reads payments), so payments cannot import it:
# receipts registers its issuer here from ``ReceiptsConfig.ready()`` — the one receiver.
_RECEIPT_ISSUERS: list = []  # of issuer(payment) callables


def receipt_issuer_register(issuer) -> None:
    """The hook for ``linli.receipts``: ``issuer(payment)`` runs inside the transaction
    that records each payment. Registering the same issuer twice changes nothing."""
    if issuer not in _RECEIPT_ISSUERS:
        _RECEIPT_ISSUERS.append(issuer)


def _receipt_issuer():
    """The registered receipt issuer. None registered means the receipts app is missing
    from INSTALLED_APPS: refuse to record a payment without its receipt."""
    if len(_RECEIPT_ISSUERS) != 1:
        raise RuntimeError(
            f"expected one receipt issuer (linli.receipts), found {len(_RECEIPT_ISSUERS)}")
    return _RECEIPT_ISSUERS[0]


def payment_lines(payment: Payment, allocations: list[Allocation], excess_fen: int) -> list:
    """The payment entry's lines (``postings.payment_received``)."""
    principal_by_item: dict[int, int] = defaultdict(int)
    for a in allocations:
        principal_by_item[a.bill.fee_item_id] += a.principal_fen
    return postings.payment_received(
        channel=payment.channel, unit_id=payment.unit_id, amount_fen=payment.amount_fen,
        principal_by_item=principal_by_item,
        late_fee_fen=sum(a.late_fee_fen for a in allocations), excess_fen=excess_fen)


def prepaid_move(*, unit: Unit, delta_fen: int, kind: str, payment: Payment | None,
                 acting_user, business_key: str = "") -> PrepaidMovement:
    """Move ``delta_fen`` into (+) or out of (−) the unit's prepaid balance, under the
    wallet's row lock, with its movement row; refused below zero. The caller posts the
    ledger entry that goes with it, in the same transaction."""
    wallet, _created = PrepaidWallet.objects.get_or_create(
        unit=unit, defaults={"community_id": unit.community_id}
    )
    wallet = PrepaidWallet.objects.select_for_update(no_key=True).get(pk=wallet.pk)
    if wallet.balance_fen + delta_fen < 0:
        raise PaymentError(_("The prepaid balance is not enough."))
    PrepaidWallet.objects.filter(pk=wallet.pk).update(balance_fen=F("balance_fen") + delta_fen)
    return PrepaidMovement.objects.create(
        wallet=wallet, kind=kind, amount_fen=delta_fen,
        balance_after_fen=wallet.balance_fen + delta_fen, payment=payment, by=_user(acting_user),
        business_key=business_key,
    )


def prepaid_deposit(
    *, acting_user, unit: Unit, amount_fen: int, channel: str, idempotency_key: str,
    reference: str = "", payer_name: str = "",
) -> Payment:
    """Money paid in at the counter to be kept as the unit's prepaid balance (预存)."""
    if channel not in (*COUNTER, Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX):
        raise PaymentError(_("Unknown payment channel."))
    return payment_record(
        acting_user=acting_user, unit=unit, channel=channel, amount_fen=amount_fen, bill_ids=[],
        idempotency_key=idempotency_key, reference=reference, payer_name=payer_name,
        excess_kind=PrepaidMovement.Kind.DEPOSIT,
    )


COUNTER = (Channel.CASH, Channel.POS, Channel.TRANSFER, Channel.CHEQUE)


@transaction.atomic
def prepaid_pay_bills(*, acting_user, unit: Unit, bill_ids: list[int], idempotency_key: str,
                      as_of: dt.date | None = None) -> Payment | None:
    """Pay bills from the unit's prepaid balance, as far as it goes. The wallet is locked
    before its balance is read, so two of these at once each pay what is really left.
    Lock order everywhere: bills (by id), then the wallet."""
    lock_bills(bill_ids)
    wallet = PrepaidWallet.objects.select_for_update(no_key=True).filter(unit=unit).first()
    if wallet is None or wallet.balance_fen <= 0:
        return None
    bills = list(with_balances(Bill.objects.filter(pk__in=bill_ids)))
    due_fen = amount_due_fen(bills, as_of=as_of or timezone.localdate())
    amount_fen = min(wallet.balance_fen, due_fen)
    if amount_fen <= 0:
        return None
    return payment_record(
        acting_user=acting_user, unit=unit, channel=Channel.PREPAID, amount_fen=amount_fen,
        bill_ids=bill_ids, idempotency_key=idempotency_key,
    )


def offset_key(bill_run_id: int, unit_id: int) -> str:
    """The idempotency key of a run's auto-offset payment for one unit."""
    return f"offset:run{bill_run_id}:unit{unit_id}"


def offset_payments(bill_run_id: int):
    """A run's auto-offset payments (by their idempotency keys)."""
    return Payment.objects.filter(channel=Channel.PREPAID,
                                  idempotency_key__startswith=f"offset:run{bill_run_id}:")


def prepaid_offset_new_bills(*, acting_user, bill_run) -> int:
    """Once a run has committed: pay its bills from prepaid balances (community
    setting), each unit in its own short transaction (``prepaid_pay_bills``: its bills
    by id, then its wallet), so no payment in the community waits on the run. Idempotent
    per run and unit; a reversed run offsets nothing. Returns how many units paid."""
    wallets = PrepaidWallet.objects.filter(
        community_id=bill_run.community_id, balance_fen__gt=0,
        unit__bills__bill_run=bill_run,
    ).distinct().select_related("unit").order_by("unit_id")
    count = 0
    for wallet in wallets:
        bill_ids = list(Bill.objects.filter(bill_run=bill_run, unit=wallet.unit, run_reversed=False)
                        .order_by("pk").values_list("pk", flat=True))
        if bill_ids and prepaid_pay_bills(acting_user=acting_user, unit=wallet.unit,
                                          bill_ids=bill_ids,
                                          idempotency_key=offset_key(bill_run.pk, wallet.unit_id)):
            count += 1
    return count


def prepaid_offset_reverse(*, acting_user, payment: Payment, reason: str) -> PaymentReversal:
    """Take back a payment from the prepaid balance (a run's auto-offset, when the run is
    reversed) by a new linked record: its allocations stop counting as paid, the wallet
    gets the money back, and the payment's ledger entry is mirrored. The caller holds
    the bills' locks (id order); the wallet is locked after them. Idempotent."""
    existing = PaymentReversal.objects.filter(payment_id=payment.pk).first()
    if existing is not None:
        return existing
    if payment.channel != Channel.PREPAID:
        raise PaymentError(_("Only a payment from the prepaid balance is taken back this way."))
    entry = JournalEntry.objects.get(business_key=f"payment:{payment.pk}")
    mirror = reverse_entry(entry=entry, memo=reason, posted_by=acting_user)
    reversal = PaymentReversal.objects.create(
        payment=payment, community_id=payment.community_id, reason=reason[:200],
        business_key=mirror.business_key, by=_user(acting_user))
    prepaid_move(unit=payment.unit, delta_fen=payment.amount_fen,
                 kind=PrepaidMovement.Kind.UNOFFSET, payment=payment, acting_user=acting_user,
                 business_key=mirror.business_key)
    bills_refresh_status(list(payment.allocations.values_list("bill_id", flat=True)))
    hooks.payment_reversed.call_each(reversal)  # its receipt is voided (receipts app)
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=payment,
                 summary=f"reversed ({format_fen(payment.amount_fen)} back to the prepaid "
                         f"balance): {reason}"[:255])
    return reversal
