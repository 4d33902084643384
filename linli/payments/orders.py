"""Payment orders (支付订单): creating, cancelling and closing them.

The order's state machine is documented on ``PaymentOrder``. Rules kept here:

- The amount is computed on the server (principal owed + late fee as of now) and fixed
  at creation; the order expires after the community's setting (default 15 minutes).
- A bill is in at most one open order: a new order for it closes the older one here at
  once, and at the gateway later (``close_at_gateway``, done by the janitor). The
  database enforces it too (partial unique index ``bill_in_one_open_order``).
- Idempotent by the client's key: the same key and body give the same order; the same
  key with another body is an error.
- The gateway is called outside any database transaction (``gateway_calls``).

Elsewhere: who may pay (``access``), applying the money a gateway reports (``trades``),
money that does not fit (``anomalies``, ``resolutions``), automatic refunds
(``auto_refunds``). ``payer_unit_ids``, ``can_pay`` and ``trade_apply`` are also
importable from here, where other apps have always found them.

Lock order: payment orders (by id), then bills (by id), then the wallet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import Bill
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.money import format_fen
from linli.payments.access import can_pay, can_pay_for_unit, payer_unit_ids
from linli.payments.gateway_calls import order_create_at_gateway
from linli.payments.gateways.base import PayMode
from linli.payments.models import (
    CommunityPaymentSettings,
    MerchantAccount,
    PaymentOrder,
    PaymentOrderBill,
)
from linli.payments.order_states import order_end
from linli.payments.trades import Applied, trade_apply

__all__ = [  # also where other apps find the order's neighbours
    "Applied", "OrderError", "can_pay", "can_pay_for_unit", "order_cancel", "order_create",
    "order_create_at_gateway", "orders_close_for_bills", "payer_unit_ids", "trade_apply",
]

class OrderError(ValidationError):
    pass


# --- creating an order ------------------------------------------------------------

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_out_trade_no() -> str:
    """"LL" + yymmdd (Shanghai) + 16 base32 characters: 24 characters, [0-9A-Z]."""
    stamp = timezone.localtime().strftime("%y%m%d")
    return "LL" + stamp + "".join(secrets.choice(_B32) for _ in range(16))


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CreateOutcome:
    order: PaymentOrder
    created: bool


def order_create(
    *,
    payer,
    channel: str,
    mode: str,
    idempotency_key: str,
    unit=None,
    bill_ids: list[int] | None = None,
    client_ip: str | None = None,
    client_info: dict | None = None,
    call_gateway: bool = True,
    topup_fen: int | None = None,
) -> PaymentOrder:
    """Create an order for ``bill_ids`` (or every open bill of ``unit``) and the gateway
    order behind it. Returns the order (the existing one for a repeated key).

    With ``topup_fen`` (and ``unit``, no bills) it is a prepaid top-up (预存): an order
    with no bill lines whose whole amount becomes the unit's prepaid balance when paid."""
    if not idempotency_key or len(idempotency_key) > 80:
        raise OrderError(_("A request key of 1 to 80 characters is required."))
    try:
        mode = PayMode(mode)
    except ValueError:
        raise OrderError(_("Unknown payment mode.")) from None
    body = {"channel": channel, "mode": str(mode), "unit": getattr(unit, "pk", None),
            "bills": sorted(set(bill_ids or [])), "client": client_info or {}}
    if topup_fen is not None:
        body["topup_fen"] = topup_fen
    key = f"{getattr(payer, 'pk', 'anon')}:{idempotency_key}"
    digest = _digest(body)
    existing = PaymentOrder.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return _replayed(_same_request(existing, digest), wait=call_gateway)
    try:
        if topup_fen is not None:
            order = _topup_insert(payer=payer, channel=channel, mode=mode, key=key,
                                  digest=digest, unit=unit, amount_fen=topup_fen,
                                  client_ip=client_ip, client_info=client_info or {})
        else:
            order = _order_insert(payer=payer, channel=channel, mode=mode, key=key,
                                  digest=digest, unit=unit, bill_ids=bill_ids,
                                  client_ip=client_ip, client_info=client_info or {})
    except IntegrityError:
        existing = PaymentOrder.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return _replayed(_same_request(existing, digest), wait=call_gateway)
        raise OrderError(_("Another payment of these bills was started at the same moment. "
                           "Please try again.")) from None
    if call_gateway:
        order_create_at_gateway(order)
        order.refresh_from_db()
    return order


# How long a repeated request (a double tap) waits for the first one's gateway call, so
# that both land on the same gateway page rather than one on a "starting…" page.
REPLAY_WAIT_S = 3.0


def _replayed(order: PaymentOrder, *, wait: bool) -> PaymentOrder:
    """The order of a repeated request, once the first request's gateway call has
    answered (or after ``REPLAY_WAIT_S``: the result page follows it from there)."""
    deadline = time.monotonic() + (REPLAY_WAIT_S if wait else 0)
    while (order.status == PaymentOrder.Status.CREATED and not order.gateway_error
           and time.monotonic() < deadline):
        time.sleep(0.05)
        order.refresh_from_db()
    return order


def _same_request(order: PaymentOrder, digest: str) -> PaymentOrder:
    if order.request_digest != digest:
        raise OrderError(_("This request key was already used for a different payment."))
    return order


@transaction.atomic
def _order_insert(*, payer, channel, mode, key, digest, unit, bill_ids, client_ip,
                  client_info) -> PaymentOrder:
    if bill_ids is None:
        if unit is None:
            raise OrderError(_("Say which bills or which unit to pay."))
        bill_ids = list(Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES)
                        .values_list("pk", flat=True))
    bill_ids = sorted(set(bill_ids))
    if not bill_ids:
        raise OrderError(_("There is nothing to pay."))
    # Older open orders holding these bills: lock them first (lock order), then the bills.
    older_ids = sorted(set(PaymentOrderBill.objects.filter(bill_id__in=bill_ids, open=True)
                           .values_list("order_id", flat=True)))
    older = list(PaymentOrder.objects.select_for_update(no_key=True).filter(pk__in=older_ids).order_by("pk"))
    list(Bill.objects.select_for_update(no_key=True).filter(pk__in=bill_ids).order_by("pk"))
    bills = list(with_balances(Bill.objects.filter(pk__in=bill_ids)).order_by("pk"))
    if len(bills) != len(bill_ids):
        raise OrderError(_("Some of these bills do not exist."))
    units = {b.unit_id for b in bills}
    if len(units) != 1 or (unit is not None and units != {unit.pk}):
        raise OrderError(_("An order pays bills of one unit."))
    for bill in bills:
        if not can_pay(payer, bill):
            raise OrderError(_("You may not pay bill #%(id)s.") % {"id": bill.pk})
        if bill.status not in Bill.OPEN_STATUSES:
            raise OrderError(_("Bill #%(id)s is not open for payment.") % {"id": bill.pk})
    community_id = bills[0].community_id
    account = MerchantAccount.objects.filter(community_id=community_id, channel=channel,
                                             enabled=True).first()
    if account is None:
        raise OrderError(_("This community does not take payments by this channel."))
    today = timezone.localdate()
    lines = [(b, max(b.owed_fen, 0), late_fee_due_fen(b, as_of=today)) for b in bills]
    lines = [line for line in lines if line[1] + line[2] > 0]
    amount_fen = sum(p + f for _b, p, f in lines)
    if amount_fen <= 0:
        raise OrderError(_("There is nothing to pay."))
    now = timezone.now()
    settings_ = CommunityPaymentSettings.for_community(community_id)
    order = PaymentOrder.objects.create(
        community_id=community_id, unit_id=bills[0].unit_id, account=account, channel=channel,
        mode=str(mode), out_trade_no=new_out_trade_no(), amount_fen=amount_fen,
        description=_order_description(bills[0], len(lines)), payer=_person(payer),
        idempotency_key=key, request_digest=digest, client_ip=client_ip,
        client_info=client_info, created_at=now,
        expires_at=now + dt_minutes(settings_.order_expiry_minutes),
    )
    for old in older:
        if old.is_open:
            order_end(old, PaymentOrder.Status.CLOSED, close_at_gateway=True, superseded_by=order)
    PaymentOrderBill.objects.bulk_create(
        PaymentOrderBill(order=order, bill=b, principal_fen=p, late_fee_fen=f) for b, p, f in lines
    )
    audit_record(actor=payer, action=AuditEvent.Action.CREATE, obj=order,
                 summary=f"{channel} {format_fen(amount_fen)}, {len(lines)} bill(s)")
    return order


TOPUP_MAX_FEN = 100_000_00  # 100,000 yuan: a typo guard, not a business rule


@transaction.atomic
def _topup_insert(*, payer, channel, mode, key, digest, unit, amount_fen, client_ip,
                  client_info) -> PaymentOrder:
    """A top-up order: no bill lines, the amount the payer chose."""
    if unit is None:
        raise OrderError(_("Say which unit to top up."))
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise OrderError(_("The amount must be more than zero."))
    if amount_fen > TOPUP_MAX_FEN:
        raise OrderError(_("A top-up can be at most 100,000 yuan."))
    if not can_pay_for_unit(payer, community_id=unit.community_id, unit_id=unit.pk):
        raise OrderError(_("You may not pay for this unit."))
    account = MerchantAccount.objects.filter(community_id=unit.community_id, channel=channel,
                                             enabled=True).first()
    if account is None:
        raise OrderError(_("This community does not take payments by this channel."))
    now = timezone.now()
    settings_ = CommunityPaymentSettings.for_community(unit.community_id)
    order = PaymentOrder.objects.create(
        community_id=unit.community_id, unit=unit, account=account, channel=channel,
        mode=str(mode), out_trade_no=new_out_trade_no(), amount_fen=amount_fen,
        description=(_("Prepaid top-up %(unit)s") % {"unit": unit})[:127],
        payer=_person(payer), idempotency_key=key, request_digest=digest,
        client_ip=client_ip, client_info=client_info, created_at=now,
        expires_at=now + dt_minutes(settings_.order_expiry_minutes),
    )
    audit_record(actor=payer, action=AuditEvent.Action.CREATE, obj=order,
                 summary=f"{channel} top-up {format_fen(amount_fen)}")
    return order


def is_topup(order: PaymentOrder) -> bool:
    """A top-up is the order with no bill lines (``_topup_insert`` makes no others)."""
    return not order.lines.exists()


def dt_minutes(n: int) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def _person(user):
    return user if getattr(user, "pk", None) else None


def _order_description(bill: Bill, n: int) -> str:
    return (_("Property fees %(unit)s (%(n)s bills)") % {"unit": bill.unit, "n": n})[:127]


@transaction.atomic
def order_cancel(order: PaymentOrder, *, acting_user=None) -> PaymentOrder:
    """Close an open order here; the janitor closes it at the gateway."""
    locked = PaymentOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
    if locked.is_open:
        order_end(locked, PaymentOrder.Status.CLOSED, close_at_gateway=True)
        audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=locked,
                     summary="closed")
    return locked


def orders_close_for_bills(bill_ids, *, acting_user=None) -> int:
    """Close the open orders holding any of ``bill_ids`` (the bills were just paid
    another way, e.g. at the counter); the janitor closes them at the gateway. Money
    that still arrives for them is recorded as a late payment. Returns how many."""
    order_ids = set(PaymentOrderBill.objects.filter(bill_id__in=list(bill_ids), open=True)
                    .values_list("order_id", flat=True))
    for order in PaymentOrder.objects.filter(pk__in=order_ids).order_by("pk"):
        order_cancel(order, acting_user=acting_user)
    return len(order_ids)
