"""Paying approved refunds back, by the route the money came, exactly once.

- Online payments (WeChat Pay, Alipay, sandbox): one ``RefundPayout`` with its own
  ``out_refund_no`` (WeChat ``out_refund_no`` / Alipay ``out_request_no``), created and
  committed *before* the gateway is called, under the payment's row lock. The lock
  and the sum of payouts that hold money make a second refund that would pass the
  payment's total fail right there, before any gateway call. The gateway is called
  outside any transaction; a timeout or an error that may hide an accepted refund
  leaves the payout ``pending`` and it is sent again with the *same* number (by the
  janitor or staff), so the gateway refunds it once.
- Payments from the prepaid balance go back to the balance at once.
- Counter payments (cash, POS, transfer, cheque): the cashier pays out and records it
  (``refund_record_counter``); that is also how staff pay "another way" after a
  gateway refund failed.

``payout_settle`` is the one place a gateway result (response, query, notification)
moves a payout. Final states stay final, so duplicate and out-of-order results end in
one state; ``success`` books the money once (``refunds.booking``). The one exception is
money: a success reported for a payout that failed or was given up is never ignored —
it pays the application if nothing else did, else it is a refund paid twice
(``booking.record_duplicate``).

Nothing gets stuck: whatever stops a refund (the gateway refuses or closes it, reports
it abnormal, or the money to refund is gone) puts the application in ``attention`` with
the reason — ours in the UI language, the gateway's words as it gave them — and the
janitor leaves it to staff, who retry (``refund_retry``: the same ``out_refund_no``
whenever the gateway may still hold it), pay another way (``refund_record_counter``) or
cancel (``refund_cancel``, which reverses the reservation).

Locks follow ``booking.LOCK_ORDER``.
"""

from __future__ import annotations

import logging
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.money import format_fen
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, RefundRequest, RefundState, RefundStatus
from linli.payments.models import COUNTER_CHANNELS, Channel, GatewayTransaction, Payment
from linli.refunds.booking import SourceGone, book_success, record_duplicate, reserve, unreserve
from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.selectors import payment_held_fen
from linli.refunds.services import RefundError, _is_staff
from linli.staff.scope import community_ids_for

logger = logging.getLogger("linli.refunds")

ONLINE = (Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX)
COUNTER_PAYOUT_CHANNELS = (Channel.CASH, Channel.TRANSFER)
S = RefundPayout.Status
A = RefundApplication.Status
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_out_refund_no() -> str:
    """"LR" + yymmdd + 14 base32 characters: valid for WeChat and Alipay alike."""
    return "LR" + timezone.localtime().strftime("%y%m%d") + "".join(
        secrets.choice(_B32) for _ in range(14))


def queue_execute(application_id: int) -> None:
    """After an approval commits: pay it back (in the worker; the janitor catches up
    when the queue is down)."""
    try:
        from linli.refunds.tasks import refunds_execute

        refunds_execute(application_id)
    except Exception:  # noqa: BLE001 - the janitor executes approved applications too
        logger.exception("could not queue refund application #%s", application_id)


def refund_execute(application_id: int) -> RefundPayout | None:
    """Start paying an approved application back by its original route. Returns the
    payout (None when a cashier has to pay it out, or when it cannot be paid: then the
    application waits for staff with the reason)."""
    try:
        payout = _payout_create(application_id)
    except (RefundError, SourceGone) as exc:
        _fail_visibly(application_id, _reason_of(exc), wanted=A.APPROVED)
        return None
    if payout is not None and payout.status == S.PENDING:
        return payout_send(payout.pk)
    return payout


def _reason_of(exc: Exception) -> str:
    if isinstance(exc, RefundError):
        return "; ".join(exc.messages)
    return str(exc)


@transaction.atomic
def _fail_visibly(application_id: int, reason: str, *, wanted) -> None:
    """The refund cannot go on by itself: staff see why (never retried silently)."""
    application = RefundApplication.objects.select_for_update(no_key=True).get(pk=application_id)
    if application.status != wanted:
        return
    application.status, application.attention_reason = A.ATTENTION, reason[:255]
    application.save(update_fields=["status", "attention_reason"])
    audit_record(actor=None, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"refund cannot be paid: {reason[:150]}")


@transaction.atomic
def _payout_create(application_id: int, *, retry: bool = False) -> RefundPayout | None:
    application = RefundApplication.objects.get(pk=application_id)
    payment = Payment.objects.select_for_update(no_key=True).get(pk=application.payment_id)
    application = RefundApplication.objects.select_for_update(no_key=True).get(pk=application_id)
    wanted = (A.ATTENTION,) if retry else (A.APPROVED,)
    if application.status not in wanted:
        return application.payouts.filter(status__in=RefundPayout.HOLDING).first()
    if payment.channel in COUNTER_CHANNELS:
        return None  # the cashier pays it out: refund_record_counter
    _check_room(payment, application.amount_fen)
    reserve(application)  # approved before reservations existed: SourceGone if spent
    if payment.channel == Channel.PREPAID:
        return _payout_to_wallet(application, payment)
    if payment.channel not in ONLINE:
        raise RefundError(_("This payment cannot be refunded by its channel."))
    txn = GatewayTransaction.objects.select_related("order").filter(payment=payment).first()
    if txn is None or txn.order is None:
        raise RefundError(_("The gateway order of this payment is unknown; pay it back "
                            "another way."))
    payout = RefundPayout.objects.create(
        community_id=application.community_id, application=application, payment=payment,
        order=txn.order, channel=payment.channel, out_refund_no=new_out_refund_no(),
        amount_fen=application.amount_fen,
    )
    application.status, application.attention_reason = A.PAYING, ""
    application.save(update_fields=["status", "attention_reason"])
    return payout


def _check_room(payment: Payment, amount_fen: int) -> None:
    """Under the payment's row lock: payouts that hold money + this ≤ what was paid."""
    held = payment_held_fen(payment.pk)
    if held + amount_fen > payment.amount_fen:
        raise RefundError(
            _("Refused: %(held)s of this payment is already refunded or being refunded; "
              "another %(amount)s would pass what was paid.")
            % {"held": format_fen(held), "amount": format_fen(amount_fen)})


def _payout_to_wallet(application, payment) -> RefundPayout:
    payout = RefundPayout.objects.create(
        community_id=application.community_id, application=application, payment=payment,
        channel=Channel.PREPAID, out_refund_no=new_out_refund_no(),
        amount_fen=application.amount_fen, status=S.SUCCESS, finished_at=timezone.now(),
    )
    application.status = A.PAYING
    application.save(update_fields=["status"])
    book_success(payout)
    return payout


def payout_send(payout_id: int) -> RefundPayout:
    """Send a pending payout (same ``out_refund_no`` every time) or ask the gateway how
    a sent one stands. Never inside a transaction: no lock is held over HTTP."""
    payout = RefundPayout.objects.select_related("order__account").get(pk=payout_id)
    if payout.status not in (S.PENDING, S.PROCESSING, S.ABNORMAL) or payout.order is None:
        return payout
    try:
        # A channel that cannot be reached at all (switched off, misconfigured) fails
        # like a refused refund: the application then waits for staff with the reason.
        gateway = gateway_for(payout.order.account.config())
        if payout.status == S.PENDING:
            RefundPayout.objects.filter(pk=payout.pk).update(
                attempts=payout.attempts + 1, sent_at=timezone.now())
            result = gateway.refund(RefundRequest(
                out_trade_no=payout.order.out_trade_no, out_refund_no=payout.out_refund_no,
                refund_fen=payout.amount_fen, total_fen=payout.payment.amount_fen,
                reason=payout.application.reason[:80]))
        else:
            result = gateway.query_refund(payout.order.out_trade_no, payout.out_refund_no)
    except GatewayError as exc:
        logger.warning("refund %s: %s", payout.out_refund_no, exc)
        if exc.retryable or payout.status != S.PENDING:
            # It may have been accepted: keep the number, send it again later.
            RefundPayout.objects.filter(pk=payout.pk).update(error=str(exc)[:255])
            return RefundPayout.objects.get(pk=payout.pk)
        return payout_settle(payout.pk, RefundStatus(
            out_refund_no=payout.out_refund_no, state=RefundState.CLOSED,
            reason=exc.message or exc.code))
    return payout_settle(payout.pk, result)


def payout_settle(payout_id: int, result: RefundStatus, *, source: str = "") -> RefundPayout:
    """Apply one gateway result to a payout, idempotently (row lock + state check)."""
    with transaction.atomic():
        # Lock order (booking.LOCK_ORDER): payment, application, payout (then bills, wallet).
        known = RefundPayout.objects.values("payment_id", "application_id").get(pk=payout_id)
        Payment.objects.select_for_update(no_key=True).filter(pk=known["payment_id"]).first()
        RefundApplication.objects.select_for_update(no_key=True).filter(pk=known["application_id"]).first()
        payout = RefundPayout.objects.select_for_update(no_key=True).get(pk=payout_id)
        state = result.state
        if state == RefundState.SUCCESS and payout.status in (S.FAILED, S.ABANDONED):
            return _late_success(payout, result)
        if payout.status in (S.SUCCESS, S.FAILED, S.ABANDONED, S.LATE_SUCCESS):
            return payout  # final: duplicates and late results change nothing
        logger.info("refund %s: %s (%s)", payout.out_refund_no, state, source or "response")
        if result.refund_id:
            payout.refund_id = result.refund_id[:64]
        if state == RefundState.SUCCESS:
            _check_amount(payout, result)
            payout.status, payout.finished_at, payout.error = S.SUCCESS, timezone.now(), ""
            payout.save()
            book_success(payout)
        elif state == RefundState.ABNORMAL:
            was = payout.status
            payout.status, payout.error = S.ABNORMAL, (result.reason or "ABNORMAL")[:255]
            payout.save()
            if was != S.ABNORMAL:
                _to_staff(payout, payout.error)
        elif state == RefundState.CLOSED or (state == RefundState.NOT_FOUND
                                              and payout.status != S.PENDING):
            payout.status, payout.finished_at = S.FAILED, timezone.now()
            payout.error = (result.reason or str(state))[:255]
            payout.save()
            _to_staff(payout, payout.error)
        elif state == RefundState.PROCESSING and payout.status == S.PENDING:
            payout.status = S.PROCESSING
            payout.save()
        else:
            payout.save(update_fields=["refund_id"])
        return payout


def _check_amount(payout: RefundPayout, result: RefundStatus) -> None:
    if result.refund_fen is not None and result.refund_fen != payout.amount_fen:
        raise GatewayError("BAD_REFUND", "the gateway refunded another amount")


def _late_success(payout: RefundPayout, result: RefundStatus) -> RefundPayout:
    """The channel refunded a payout we took for failed or given up. If nothing else
    paid the application, this pays it; otherwise the owner got the money twice."""
    _check_amount(payout, result)
    application = payout.application
    others = application.payouts.exclude(pk=payout.pk).filter(status__in=RefundPayout.HOLDING)
    logger.warning("refund %s: success after %s", payout.out_refund_no, payout.status)
    if application.status == A.ATTENTION and not others.exists():
        payout.status, payout.finished_at = S.SUCCESS, timezone.now()
        payout.refund_id = (result.refund_id or payout.refund_id)[:64]
        payout.save()
        book_success(payout)
        return payout
    record_duplicate(payout, refund_id=result.refund_id)
    return payout


def _to_staff(payout: RefundPayout, reason: str) -> None:
    RefundApplication.objects.filter(pk=payout.application_id, status=A.PAYING).update(
        status=A.ATTENTION, attention_reason=reason[:255])
    audit_record(actor=None, action=AuditEvent.Action.ACTION, obj=payout.application,
                 community_id=payout.community_id,
                 summary=f"refund {payout.out_refund_no} {payout.status}: {reason[:150]}")


def payout_by_number(out_refund_no: str) -> RefundPayout | None:
    return RefundPayout.objects.filter(out_refund_no=out_refund_no).first()


# --- staff: retry, pay another way, or cancel ---------------------------------------------


def _check_staff(acting_user, application: RefundApplication, perm: str) -> None:
    if not (_is_staff(acting_user) and application.community_id in community_ids_for(acting_user)
            and acting_user.has_perm(perm)):
        raise RefundError(_("You may not pay out this refund."))


def refund_retry(*, acting_user, application: RefundApplication,
                 note: str = "") -> RefundPayout | None:
    """Try again a refund that needs staff. The same ``out_refund_no`` whenever the
    gateway may hold it (abnormal, still pending, or refused before it was accepted), so
    the gateway refunds it once; a new number only after the gateway closed the refund
    for good (it then holds no money for it). Refused again: the reason is said."""
    _check_staff(acting_user, application, "refunds.change_refundapplication")
    target = _retry_target(application)
    note = (note or "").strip()[:200]
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"refund retried: {note}" if note else "refund retried",
                 changes={"note": note} if note else None)
    if target is None:
        try:
            target = _payout_create(application.pk, retry=True)
        except (RefundError, SourceGone) as exc:
            reason = _reason_of(exc)
            RefundApplication.objects.filter(pk=application.pk, status=A.ATTENTION).update(
                attention_reason=reason[:255])
            raise RefundError(reason) from exc
        if target is None or target.status != S.PENDING:
            return target
    payout = payout_send(target.pk)
    application.refresh_from_db()
    if application.status == A.ATTENTION:
        raise RefundError(_("The refund failed again: %(reason)s")
                          % {"reason": application.attention_reason})
    return payout


@transaction.atomic
def _retry_target(application: RefundApplication) -> RefundPayout | None:
    payment = Payment.objects.select_for_update(no_key=True).get(pk=application.payment_id)
    locked = RefundApplication.objects.select_for_update(no_key=True).get(pk=application.pk)
    if locked.status != A.ATTENTION:
        raise RefundError(_("Only a refund that needs staff can be retried."))
    payouts = locked.payouts.select_for_update(no_key=True).order_by("-id")
    live = payouts.filter(status__in=RefundPayout.HOLDING).first()
    if live is not None:
        return live  # abnormal (or still pending): ask again, same number
    last = payouts.first()
    if last is None or last.status != S.FAILED or last.refund_id:
        return None  # nothing sent, or closed by the gateway for good: a new payout
    _check_room(payment, last.amount_fen)
    last.status, last.finished_at = S.PENDING, None
    last.save(update_fields=["status", "finished_at"])
    locked.status = A.PAYING
    locked.save(update_fields=["status"])
    return last


@transaction.atomic
def refund_record_counter(*, acting_user, application: RefundApplication, channel: str,
                          reference: str = "") -> RefundPayout:
    """The cashier paid the refund out in cash or by transfer: record it. For a counter
    payment this is how it is paid back; for an online one that needs staff, this is
    "paid another way" (a stuck gateway payout is given up; should the gateway still
    refund it later, that is recorded as a refund paid twice). It pays the reservation
    made at approval."""
    _check_staff(acting_user, application, "refunds.change_refundapplication")
    if channel not in COUNTER_PAYOUT_CHANNELS:
        raise RefundError(_("Pay a refund out in cash or by bank transfer."))
    payment = Payment.objects.select_for_update(no_key=True).get(pk=application.payment_id)
    application = RefundApplication.objects.select_for_update(no_key=True).get(pk=application.pk)
    online = payment.channel not in COUNTER_CHANNELS
    if online and application.status != A.ATTENTION:
        raise RefundError(_("An online payment is refunded through its gateway; pay another "
                            "way only when that failed."))
    if not online and application.status not in (A.APPROVED, A.ATTENTION):
        raise RefundError(_("This application is not approved for paying out."))
    stuck = application.payouts.select_for_update(no_key=True).filter(status__in=RefundPayout.HOLDING)
    if stuck.filter(status__in=[S.PROCESSING, S.SUCCESS]).exists():
        raise RefundError(_("The gateway is still processing this refund."))
    for carried in stuck.filter(status__in=[S.ABNORMAL, S.PENDING]):
        carried.status, carried.finished_at = S.ABANDONED, timezone.now()
        carried.save(update_fields=["status", "finished_at"])
    _check_room(payment, application.amount_fen)
    payout = RefundPayout.objects.create(
        community_id=application.community_id, application=application, payment=payment,
        channel=channel, out_refund_no=new_out_refund_no(), amount_fen=application.amount_fen,
        status=S.SUCCESS, reference=(reference or "")[:64], cashier=acting_user,
        finished_at=timezone.now(),
    )
    application.status = A.PAYING
    application.save(update_fields=["status"])
    try:
        book_success(payout, acting_user=acting_user)
    except SourceGone as exc:
        raise RefundError(str(exc)) from exc
    return payout


def cancellable(application: RefundApplication) -> bool:
    """Nothing is in flight and no money went: a refund that needs staff, or an
    approved one the cashier has not paid out."""
    if application.status == A.ATTENTION:
        return not application.payouts.filter(status__in=RefundPayout.HOLDING).exists()
    return (application.status == A.APPROVED
            and application.payment.channel in COUNTER_CHANNELS)


@transaction.atomic
def refund_cancel(*, acting_user, application: RefundApplication,
                  reason: str) -> RefundApplication:
    """Cancel a refund that cannot or will not be paid: the reservation made at approval
    is reversed (a prepaid balance goes back to the wallet) and the owner sees why."""
    _check_staff(acting_user, application, "refunds.change_refundapplication")
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Say why the refund is cancelled."))
    Payment.objects.select_for_update(no_key=True).filter(pk=application.payment_id).first()
    application = (RefundApplication.objects.select_for_update(no_key=True, of=("self",)).select_related("payment", "unit")
                   .get(pk=application.pk))
    if not cancellable(application):
        raise RefundError(_("Only a refund that needs staff, with nothing in progress at the "
                            "gateway, or one approved for the counter, can be cancelled."))
    unreserve(application, acting_user=acting_user)
    application.status = A.CANCELLED
    application.cancelled_by, application.cancelled_at = acting_user, timezone.now()
    application.decision_note = reason[:200]
    application.save(update_fields=["status", "cancelled_by", "cancelled_at", "decision_note"])
    audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=application,
                 community_id=application.community_id,
                 summary=f"cancelled ({format_fen(application.amount_fen)}): {reason[:100]}")
    return application
