"""Payment orders (支付订单): creating them, and applying the money a gateway reports.

The order's state machine is documented on ``PaymentOrder``. Rules kept here:

- The amount is computed on the server (principal owed + late fee as of now) and fixed
  at creation; the order expires after the community's setting (default 15 minutes).
- A bill is in at most one open order: a new order for it closes the older one here at
  once, and at the gateway later (``close_at_gateway``, done by the janitor). The
  database enforces it too (partial unique index ``bill_in_one_open_order``).
- Idempotent by the client's key: the same key and body give the same order; the same
  key with another body is an error.
- The gateway is called outside any database transaction: no row lock is ever held
  over HTTP.
- ``trade_apply`` is the one way money a gateway reports becomes a payment — from a
  notification, a query or a close answered "paid". It locks the order row, and the
  unique ``GatewayTransaction`` (channel, transaction id) makes "one gateway transaction
  → one payment" hold in the database. Money is never refused once received.

Lock order: payment orders (by id), then bills (by id), then the wallet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.billing.models import Bill
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.ledger import postings
from linli.ledger.services import book_memo, post_entry
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import (
    CreateRequest,
    GatewayError,
    PayMode,
    TradeState,
    TradeStatus,
)
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    GatewayNotification,
    GatewayTransaction,
    MerchantAccount,
    OrderRefund,
    PaymentAnomaly,
    PaymentOrder,
    PaymentOrderBill,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.payments.services import _wallet_move, payment_record

logger = logging.getLogger("linli.payments")


class OrderError(ValidationError):
    pass


# --- who may pay what -------------------------------------------------------------


def payer_unit_ids(user) -> set[int]:
    """Units a user without a staff role pays for: the owners app's rule (an owner's
    current occupancies marked "pays the fees", ``is_payer``)."""
    from linli.owners.selectors import owner_payer_unit_ids

    return owner_payer_unit_ids(user)


def can_pay(user, bill: Bill) -> bool:
    """May ``user`` start an online payment of ``bill``? Staff (a cashier or anyone who
    may take payments): any bill of their communities. Anyone else: bills of the units
    they pay for (``payer_unit_ids``)."""
    return can_pay_for_unit(user, community_id=bill.community_id, unit_id=bill.unit_id)


def can_pay_for_unit(user, *, community_id: int, unit_id: int) -> bool:
    """``can_pay``'s rule for a unit itself (a prepaid top-up pays no bill)."""
    from linli.staff.scope import community_ids_for

    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or getattr(user, "staff", None) is not None:
        return (community_id in community_ids_for(user)
                and user.has_perm("payments.add_payment"))
    return unit_id in payer_unit_ids(user)


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
    older = list(PaymentOrder.objects.select_for_update().filter(pk__in=older_ids).order_by("pk"))
    list(Bill.objects.select_for_update().filter(pk__in=bill_ids).order_by("pk"))
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
            _order_end(old, PaymentOrder.Status.CLOSED, close_at_gateway=True, superseded_by=order)
    PaymentOrderBill.objects.bulk_create(
        PaymentOrderBill(order=order, bill=b, principal_fen=p, late_fee_fen=f) for b, p, f in lines
    )
    audit_record(actor=payer, action=AuditEvent.Action.CREATE, obj=order,
                 summary=f"{channel} {amount_fen} fen, {len(lines)} bill(s)")
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
                 summary=f"{channel} top-up {amount_fen} fen")
    return order


def is_topup(order: PaymentOrder) -> bool:
    """A top-up is the order with no bill lines (``_topup_insert`` makes no others)."""
    return not order.lines.exists()


def dt_minutes(n: int):
    import datetime as dt

    return dt.timedelta(minutes=n)


def _person(user):
    return user if getattr(user, "pk", None) else None


def _order_description(bill: Bill, n: int) -> str:
    return (_("Property fees %(unit)s (%(n)s bills)") % {"unit": bill.unit, "n": n})[:127]


def _order_end(order: PaymentOrder, status: str, *, close_at_gateway: bool = False,
               superseded_by: PaymentOrder | None = None, error: str = "") -> None:
    """Move an open order to an end state (caller holds its row lock)."""
    order.status = status
    order.finished_at = timezone.now()
    order.close_at_gateway = close_at_gateway
    fields = ["status", "finished_at", "close_at_gateway"]
    if superseded_by is not None:
        order.superseded_by = superseded_by
        fields.append("superseded_by")
    if error:
        order.gateway_error = error[:255]
        fields.append("gateway_error")
    order.save(update_fields=fields)
    PaymentOrderBill.objects.filter(order=order, open=True).update(open=False)


def order_create_at_gateway(order: PaymentOrder) -> None:
    """Create the gateway order and store what it returned. Call it outside any
    transaction (``order_create`` does): no row lock may be held over HTTP."""
    gateway = gateway_for(order.account.config())
    try:
        result = gateway.create(CreateRequest(
            out_trade_no=order.out_trade_no, amount_fen=order.amount_fen,
            description=order.description, expires_at=order.expires_at,
            mode=PayMode(order.mode), payer_openid=order.client_info.get("openid", ""),
            payer_ip=order.client_ip or "", return_url=order.client_info.get("return_url", ""),
            quit_url=order.client_info.get("quit_url", ""),
        ))
    except GatewayError as exc:
        logger.warning("order %s: gateway create failed: %s", order.out_trade_no, exc)
        if exc.retryable:
            # It may exist at the gateway: leave it "created"; the janitor settles it.
            PaymentOrder.objects.filter(pk=order.pk).update(gateway_error=str(exc)[:255])
            return
        with transaction.atomic():
            locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
            if locked.status == PaymentOrder.Status.CREATED:
                _order_end(locked, PaymentOrder.Status.FAILED, error=str(exc))
        return
    PaymentOrder.objects.filter(pk=order.pk, status=PaymentOrder.Status.CREATED).update(
        status=PaymentOrder.Status.PENDING, code_url=result.code_url,
        redirect_url=result.redirect_url, jsapi_params=result.jsapi_params, gateway_error="",
    )


@transaction.atomic
def order_cancel(order: PaymentOrder, *, acting_user=None) -> PaymentOrder:
    """Close an open order here; the janitor closes it at the gateway."""
    locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
    if locked.is_open:
        _order_end(locked, PaymentOrder.Status.CLOSED, close_at_gateway=True)
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


# --- applying money the gateway reports ---------------------------------------------


class Applied:
    """What ``trade_apply`` did. ``recorded`` says whether it is safely stored (the only
    thing we may acknowledge)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"
    UNKNOWN_ORDER = "unknown_order"
    NOT_PAID = "ignored"

    def __init__(self, outcome: str, order: PaymentOrder | None = None, payment=None,
                 anomaly: PaymentAnomaly | None = None):
        self.outcome, self.order, self.payment, self.anomaly = outcome, order, payment, anomaly

    @property
    def recorded(self) -> bool:
        return self.outcome != self.UNKNOWN_ORDER

    def __repr__(self) -> str:
        return f"Applied({self.outcome!r})"


def trade_apply(account: MerchantAccount, trade: TradeStatus, *, source: str,
                notification: GatewayNotification | None = None) -> Applied:
    """Record a trade the gateway reports as paid — exactly once, in one transaction."""
    if trade.state != TradeState.PAID:
        return Applied(Applied.NOT_PAID)
    if not trade.transaction_id or not isinstance(trade.amount_fen, int) or trade.amount_fen <= 0:
        raise GatewayError("BAD_TRADE", "a paid trade without transaction id or amount")
    with transaction.atomic():
        order = (PaymentOrder.objects.select_for_update(of=("self",)).select_related("unit")
                 .filter(out_trade_no=trade.out_trade_no, account=account).first())
        if order is not None:
            applied = _apply_locked(account, order, trade, source=source,
                                    notification=notification)
            _note_outcome(notification, applied.outcome, trade)  # same commit
            return applied
    with transaction.atomic():
        applied = _unknown_order(account, trade, notification)
        _note_outcome(notification, applied.outcome, trade)
        return applied


def _note_outcome(notification: GatewayNotification | None, outcome: str,
                  trade: TradeStatus) -> None:
    if notification is not None:
        GatewayNotification.objects.filter(pk=notification.pk).update(
            outcome=outcome, out_trade_no=trade.out_trade_no[:64],
            transaction_id=trade.transaction_id[:64])


def _apply_locked(account, order, trade, *, source, notification) -> Applied:
    channel = account.channel
    done = GatewayTransaction.objects.filter(channel=channel,
                                             transaction_id=trade.transaction_id).first()
    if done is not None:
        return Applied(Applied.DUPLICATE, order, done.payment)
    received_at = trade.paid_at or timezone.now()
    if trade.amount_fen != order.amount_fen:
        return _to_suspense(account, order, trade, received_at, notification)
    was_status = order.status
    bill_ids = list(order.lines.values_list("bill_id", flat=True).order_by("bill_id"))
    topup = not bill_ids  # a prepaid top-up: all of it is the point, never "excess"
    payment = payment_record(
        acting_user=None, unit=order.unit, channel=channel, amount_fen=trade.amount_fen,
        bill_ids=bill_ids, idempotency_key=f"{channel}:{trade.transaction_id}",
        received_at=received_at, reference=trade.transaction_id,
        note=f"order {order.out_trade_no} ({source})",
        excess_kind=PrepaidMovement.Kind.DEPOSIT if topup else PrepaidMovement.Kind.EXCESS,
    )
    GatewayTransaction.objects.create(
        community_id=order.community_id, channel=channel, transaction_id=trade.transaction_id,
        kind=GatewayTransaction.Kind.PAYMENT, amount_fen=trade.amount_fen, order=order,
        payment=payment, received_at=received_at,
    )
    second = order.status == PaymentOrder.Status.PAID  # the order was already paid once
    if not second:
        order.status = PaymentOrder.Status.PAID
        order.finished_at = timezone.now()
        order.transaction_id = trade.transaction_id
        order.payment = payment
        order.save(update_fields=["status", "finished_at", "transaction_id", "payment"])
        PaymentOrderBill.objects.filter(order=order, open=True).update(open=False)
    excess_fen = 0 if topup else getattr(payment, "excess_fen", None)
    if excess_fen is None:  # an existing payment returned by its idempotency key
        excess_fen = sum(m.amount_fen for m in payment.prepaid_movements.all()
                         if m.kind == PrepaidMovement.Kind.EXCESS)
    anomaly = None
    if was_status not in PaymentOrder.OPEN_STATUSES or excess_fen:
        kind = (PaymentAnomaly.Kind.DUPLICATE if second or (
            excess_fen and was_status in PaymentOrder.OPEN_STATUSES)
            else PaymentAnomaly.Kind.LATE)
        detail = (f"order was {was_status}; {excess_fen} fen not needed by its bills"
                  if excess_fen else f"order was {was_status}")
        anomaly = _flag(order.community_id, f"{kind}:{channel}:{trade.transaction_id}", kind,
                        order=order, payment=payment, notification=notification,
                        channel=channel, transaction_id=trade.transaction_id,
                        amount_fen=excess_fen or trade.amount_fen, detail=detail)
        if excess_fen:
            _maybe_refund_excess(order, payment, excess_fen)
    return Applied(Applied.ANOMALY if anomaly else Applied.APPLIED, order, payment, anomaly)


def _to_suspense(account, order, trade, received_at, notification) -> Applied:
    """Money whose amount differs from the order: debit clearing, credit suspense; no bill
    is marked paid; staff sort it out."""
    channel = account.channel
    txn = GatewayTransaction.objects.create(
        community_id=order.community_id, channel=channel, transaction_id=trade.transaction_id,
        kind=GatewayTransaction.Kind.SUSPENSE, amount_fen=trade.amount_fen, order=order,
        received_at=received_at,
    )
    post_entry(
        community_id=order.community_id, business_key=f"suspense:{channel}:{trade.transaction_id}",
        kind="payment_suspense",
        lines=postings.payment_to_suspense(channel=channel, amount_fen=trade.amount_fen),
        effective_on=timezone.localtime(received_at).date(),
        memo=book_memo(gettext_lazy("%(channel)s transaction %(transaction)s of order "
                                    "%(order)s: the amount differs"),
                       channel=Channel(channel).label, transaction=trade.transaction_id,
                       order=order.out_trade_no),
    )
    anomaly = _flag(order.community_id, f"amount:{channel}:{trade.transaction_id}",
                    PaymentAnomaly.Kind.AMOUNT_MISMATCH, order=order, notification=notification,
                    channel=channel, transaction_id=trade.transaction_id,
                    amount_fen=trade.amount_fen,
                    detail=f"paid {trade.amount_fen} fen, order {order.amount_fen} fen")
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=order,
                 summary=f"amount mismatch: paid {trade.amount_fen}, order {order.amount_fen} "
                         f"({txn})")
    return Applied(Applied.ANOMALY, order, None, anomaly)


def _unknown_order(account, trade, notification) -> Applied:
    """A validly signed payment for an order we never made: flag it, record nothing, and
    do not acknowledge (the gateway keeps retrying while staff look)."""
    anomaly = _flag(account.community_id, f"unknown:{account.channel}:{trade.transaction_id}",
                    PaymentAnomaly.Kind.UNKNOWN_ORDER, notification=notification,
                    channel=account.channel, transaction_id=trade.transaction_id,
                    amount_fen=trade.amount_fen or 0,
                    detail=f"out_trade_no {trade.out_trade_no!r} is not ours")
    audit_record(actor=None, action=AuditEvent.Action.SECURITY, obj=account,
                 summary=f"payment for unknown order {trade.out_trade_no!r} "
                         f"({trade.transaction_id})")
    return Applied(Applied.UNKNOWN_ORDER, None, None, anomaly)


def _flag(community_id, key, kind, **fields) -> PaymentAnomaly:
    anomaly, _created = PaymentAnomaly.objects.get_or_create(
        key=key[:120], defaults={"community_id": community_id, "kind": kind, **fields})
    return anomaly


def _maybe_refund_excess(order: PaymentOrder, payment, excess_fen: int) -> None:
    """Community setting "refund": take the excess out of the prepaid balance into
    refunds payable now (so it cannot be spent), and send the refund after commit."""
    settings_ = CommunityPaymentSettings.for_community(order.community_id)
    if settings_.excess_handling != CommunityPaymentSettings.Excess.REFUND:
        return
    refund = OrderRefund.objects.create(
        community_id=order.community_id, order=order, payment=payment,
        out_refund_no=f"RF{payment.pk:08d}{order.out_trade_no[-8:]}", amount_fen=excess_fen,
    )
    _wallet_move(order.unit, -excess_fen, PrepaidMovement.Kind.REFUND, payment, None)
    post_entry(
        community_id=order.community_id, business_key=f"auto_refund:{refund.out_refund_no}",
        kind="refund_reserve",
        lines=postings.refund_reserved(unit_id=order.unit_id, amount_fen=excess_fen),
        memo=book_memo(gettext_lazy("Refund %(refund)s of order %(order)s"),
                       refund=refund.out_refund_no, order=order.out_trade_no),
    )
    transaction.on_commit(lambda: _queue_refund(refund.pk))


def _queue_refund(refund_id: int) -> None:
    try:
        from linli.payments.tasks import send_order_refund

        send_order_refund(refund_id)
    except Exception:  # the janitor sends it on its next run
        logger.exception("could not queue refund #%s", refund_id)


def refund_send(refund_id: int) -> OrderRefund:
    """Send (or re-send, same out_refund_no) an automatic refund; book it when done."""
    from linli.payments.gateways.base import RefundRequest

    refund = OrderRefund.objects.select_related("order__account", "payment").get(pk=refund_id)
    if refund.status in (OrderRefund.Status.SUCCESS, OrderRefund.Status.FAILED):
        return refund
    gateway = gateway_for(refund.order.account.config())
    try:
        if refund.status == OrderRefund.Status.PENDING:
            result = gateway.refund(RefundRequest(
                out_trade_no=refund.order.out_trade_no, out_refund_no=refund.out_refund_no,
                refund_fen=refund.amount_fen, total_fen=refund.payment.amount_fen,
                reason="overpayment"))
        else:
            result = gateway.query_refund(refund.order.out_trade_no, refund.out_refund_no)
    except GatewayError as exc:
        OrderRefund.objects.filter(pk=refund.pk).update(error=str(exc)[:255])
        logger.warning("refund %s: %s", refund.out_refund_no, exc)
        return refund
    return refund_settle(refund.pk, result.state, refund_id_at_gateway=result.refund_id,
                         reason=result.reason)


@transaction.atomic
def refund_settle(refund_pk: int, state, *, refund_id_at_gateway: str = "",
                  reason: str = "") -> OrderRefund:
    from linli.payments.gateways.base import RefundState

    refund = OrderRefund.objects.select_for_update().select_related("order").get(pk=refund_pk)
    if refund.status in (OrderRefund.Status.SUCCESS, OrderRefund.Status.FAILED):
        return refund
    if state == RefundState.SUCCESS:
        post_entry(
            community_id=refund.community_id, business_key=f"auto_refund_paid:{refund.out_refund_no}",
            kind="refund_paid",
            lines=postings.refund_paid_from_payable(channel=refund.order.channel,
                                                    amount_fen=refund.amount_fen),
            memo=book_memo(gettext_lazy("Refund %(refund)s paid back"),
                           refund=refund.out_refund_no),
        )
        refund.status, refund.finished_at = OrderRefund.Status.SUCCESS, timezone.now()
    elif state in (RefundState.ABNORMAL, RefundState.CLOSED):
        refund.status, refund.finished_at = OrderRefund.Status.FAILED, timezone.now()
        refund.error = (reason or str(state))[:255]
    else:
        refund.status = OrderRefund.Status.PROCESSING
    refund.refund_id = refund_id_at_gateway or refund.refund_id
    refund.save()
    return refund


def wallet_balance_fen(unit) -> int:
    wallet = PrepaidWallet.objects.filter(unit=unit).first()
    return wallet.balance_fen if wallet else 0
