"""Paying: choose bills → exact total → channel → the gateway's flow → a result page
that follows the order until it is paid, failed or expired.

Every form carries a random request key (``new_request_key``) used as the order's
idempotency key: a double tap, the back button or a reload sends the same key again
and ``order_create`` returns the same order — never a second charge. A new attempt
(a fresh page) has a new key, and its order supersedes the older open one.

WeChat JSAPI needs the payer's openid. When the session has none for the merchant's
app id, choosing it first goes through WeChat's web authorization (``wechat_oauth``):
the attempt (unit, bills or top-up amount, option, request key) waits in the session
under a random ``state``, and ``wechat_oauth_return`` checks that state, exchanges the
code server-side and then creates the order exactly as the form would have.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from linli.core.http import public_url
from linli.money import parse_yuan
from linli.owners.access import owner_required
from linli.payments.gateways.base import PayMode
from linli.payments.models import Channel, MerchantAccount, PaymentOrder
from linli.payments.orders import OrderError
from linli.payments.qr import is_simulated, qr_svg, scan_page_url
from linli.payments.wechat_oauth import (
    OAuthError,
    authorize_url,
    oauth_ready,
    openid_for_code,
)
from linli.paysim.wechat import jsapi_page_url
from linli.portal import selectors
from linli.portal.paymodes import VIA_QR, remember_openid, wants_qr, wechat_openid
from linli.portal.services import options_for, order_refresh, portal_order_create
from linli.receipts.views import verify_url

REDIRECT_MODES = ("h5", "wap", "page", "sandbox")
CHECK_EVERY_S = 5
OAUTH_KEY = "wechat_oauth"  # session: {state: the payment attempt waiting for it}
OAUTH_WAIT_S = 10 * 60
OAUTH_PENDING_MAX = 5
JSAPI_OPTION = f"{Channel.WECHAT}:{PayMode.JSAPI}"

logger = logging.getLogger("linli.portal")


def new_request_key() -> str:
    return secrets.token_urlsafe(18)


def _unit_or_404(request, unit_id: int):
    unit_ids = selectors.owner_unit_ids(request.user)
    if unit_id not in unit_ids:
        raise Http404("unit not found")
    return unit_ids, next(u for u in selectors.owner_units([unit_id]))


def _error_text(exc: OrderError) -> str:
    return " ".join(exc.messages)


def _after_create(order: PaymentOrder):
    """Where the browser goes once the order exists: straight to the gateway's page for
    the redirect flows, else to our result page (QR code, JSAPI sheet, errors)."""
    if order.status == PaymentOrder.Status.PENDING and order.mode in REDIRECT_MODES \
            and order.redirect_url:
        return redirect(order.redirect_url)
    return redirect("portal:order", pk=order.pk)


@owner_required
@require_http_methods(["GET", "POST"])
def pay(request, unit_id: int):
    unit_ids, unit = _unit_or_404(request, unit_id)
    today = timezone.localdate()
    payable = selectors.payable_bills(unit_ids, unit_id=unit.pk, today=today)
    error = ""
    if request.method == "POST":
        wanted = {int(b) for b in request.POST.getlist("bill") if b.isdigit()}
        detour = _authorize_first(request, unit, bill_ids=sorted(wanted))
        if detour is not None:
            return detour
        try:
            order = portal_order_create(
                request, unit=unit, option_key=request.POST.get("option", ""),
                request_key=request.POST.get("key", ""),
                bill_ids=sorted(wanted))
        except OrderError as exc:
            error = _error_text(exc)
        else:
            return _after_create(order)
    else:
        wanted = {int(b) for b in request.GET.getlist("bill") if b.isdigit()}
    # Everything due is preselected, unless the owner has chosen (the choosing form
    # says so with "chosen", so unticking every bill really chooses none).
    everything = not wanted and "chosen" not in request.GET and request.method == "GET"
    selected = [b for b in payable if everything or b.pk in wanted]
    options, _accounts = options_for(request, unit.community_id)
    return render(request, "portal/pay.html", {
        "unit": unit, "bills": payable, "selected_ids": {b.pk for b in selected},
        "total_fen": sum(b.due_now_fen for b in selected), "options": options,
        "key": new_request_key(), "error": error, "nav": "bills",
        "via": VIA_QR if wants_qr(request) else "",
    }, status=400 if error else 200)


@owner_required
@require_http_methods(["GET", "POST"])
def topup(request, unit_id: int):
    """A prepaid top-up (预存) through the same payment flow."""
    _unit_ids, unit = _unit_or_404(request, unit_id)
    error, amount = "", request.POST.get("amount", "").strip()
    if request.method == "POST":
        try:
            amount_fen = parse_yuan(amount)
        except (ValueError, TypeError, ArithmeticError):
            error = pgettext("portal", "Enter an amount in yuan, e.g. 500 or 99.50.")
        else:
            detour = _authorize_first(request, unit, topup_fen=amount_fen)
            if detour is not None:
                return detour
            try:
                order = portal_order_create(
                    request, unit=unit, option_key=request.POST.get("option", ""),
                    request_key=request.POST.get("key", ""), topup_fen=amount_fen)
            except OrderError as exc:
                error = _error_text(exc)
            else:
                return _after_create(order)
    options, _accounts = options_for(request, unit.community_id)
    wallet = getattr(unit, "wallet", None)
    return render(request, "portal/topup.html", {
        "unit": unit, "options": options, "key": new_request_key(), "error": error,
        "amount": amount, "balance_fen": wallet.balance_fen if wallet else 0, "nav": "history",
        "via": VIA_QR if wants_qr(request) else "",
    }, status=400 if error else 200)


def _owner_order_or_404(request, pk: int) -> PaymentOrder:
    order = selectors.owner_order(selectors.owner_unit_ids(request.user), request.user,
                                  order_id=pk)
    if order is None:
        raise Http404("order not found")
    return order


def _handover(request, order: PaymentOrder) -> dict:
    """What the result page needs to hand the payer to the gateway."""
    context: dict = {}
    if not order.is_open:
        return context
    simulated = is_simulated(order.account)
    return_url = order.client_info.get("return_url", "")
    if order.code_url:
        context["qr_svg"] = qr_svg(order.code_url)
        context["scan_url"] = scan_page_url(order)  # the demo has no phone to scan with
    if order.jsapi_params:
        context["jsapi_params"] = order.jsapi_params
        if simulated:
            prepay_id = order.jsapi_params.get("package", "").removeprefix("prepay_id=")
            context["jsapi_sheet_url"] = jsapi_page_url(order.account.gateway_url, prepay_id,
                                                        return_url)
    if order.redirect_url:
        context["redirect_url"] = order.redirect_url
    return context


def _retry_url(unit_id: int, bill_ids: list[int], *, topup: bool) -> str:
    """The pay page with the same bills chosen again, or the top-up page."""
    if topup:
        return reverse("portal:topup", args=[unit_id])
    return reverse("portal:pay", args=[unit_id]) + "?" + urlencode(
        [("bill", b) for b in bill_ids] + [("chosen", "1")])


@owner_required
@require_GET
def order(request, pk: int):
    found = _owner_order_or_404(request, pk)
    bill_ids = list(found.lines.values_list("bill_id", flat=True).order_by("bill_id"))
    receipt = None
    if found.payment_id:
        receipt = getattr(found.payment, "receipt", None)
    stale = found.is_open and found.expires_at <= timezone.now()
    return render(request, "portal/order.html", {
        "order": found, "is_topup": not bill_ids, "receipt": receipt,
        "verify_url": verify_url(request, receipt) if receipt else "",
        "retry_url": _retry_url(found.unit_id, bill_ids, topup=not bill_ids), "stale": stale,
        "follow": found.is_open and not stale, "nav": "bills",
        **_handover(request, found),
    })


@owner_required
@require_GET
def order_status(request, pk: int):
    """JSON for the result page's polling (every 2 s)."""
    found = _owner_order_or_404(request, pk)
    response = JsonResponse({
        "status": found.status, "open": found.is_open,
        "paid": found.status == PaymentOrder.Status.PAID,
    })
    response["Cache-Control"] = "no-store"
    return response


@owner_required
@require_POST
def order_check(request, pk: int):
    """"I have paid": ask the gateway now instead of waiting for its notification (at
    most once every few seconds per order, however often the button is pressed)."""
    found = _owner_order_or_404(request, pk)
    if cache.add(f"portal:order-check:{found.out_trade_no}", 1, timeout=CHECK_EVERY_S):
        order_refresh(found)
    return redirect("portal:order", pk=pk)


@owner_required
@require_GET
def order_return(request, key: str):
    """Where gateways send the payer back (return_url): the order started with this
    request key by this owner (the key is scoped by the user, as ``order_create`` does)."""
    found = PaymentOrder.objects.filter(idempotency_key=f"{request.user.pk}:{key}",
                                        unit_id__in=selectors.owner_unit_ids(request.user),
                                        ).only("pk").first()
    if found is None:
        raise Http404("order not found")
    return redirect("portal:order", pk=found.pk)


# --- WeChat web authorization (openid for JSAPI) -------------------------------------------


def _wechat_account(community_id: int) -> MerchantAccount | None:
    return MerchantAccount.objects.filter(community_id=community_id, channel=Channel.WECHAT,
                                          enabled=True).first()


def _authorize_first(request, unit, *, bill_ids: list[int] | None = None,
                     topup_fen: int | None = None):
    """A redirect to WeChat's authorization when the owner chose JSAPI and the session
    has no openid for the merchant's app id yet; None to go on and create the order."""
    if request.POST.get("option") != JSAPI_OPTION:
        return None
    options, accounts = options_for(request, unit.community_id)
    account = accounts.get(Channel.WECHAT)
    if JSAPI_OPTION not in {o.key for o in options} or wechat_openid(request, account):
        return None  # not offered here (order creation refuses it), or no need to ask
    state = secrets.token_hex(16)  # WeChat allows [A-Za-z0-9]{,128}
    now_s = int(time.time())
    waiting = {s: p for s, p in request.session.get(OAUTH_KEY, {}).items()
               if now_s - p["at"] < OAUTH_WAIT_S}
    waiting = dict(sorted(waiting.items(), key=lambda item: item[1]["at"])[
        -(OAUTH_PENDING_MAX - 1):])
    waiting[state] = {"at": now_s, "app_id": account.app_id, "unit": unit.pk,
                      "bills": bill_ids, "topup_fen": topup_fen, "option": JSAPI_OPTION,
                      "key": request.POST.get("key", "")}
    request.session[OAUTH_KEY] = waiting
    return redirect(authorize_url(
        account, redirect_uri=public_url(request, reverse("portal:wechat-oauth")),
        state=state))


def _oauth_failed(request, reason: str, attempt: dict | None, *, detail: str = ""):
    messages = {
        "cancelled": pgettext("portal", "WeChat did not confirm who you are, so WeChat Pay "
                                        "could not start. Nothing was charged."),
        "state": pgettext("portal", "This WeChat sign-in link has expired or was already "
                                    "used. Nothing was charged; please start the payment "
                                    "again."),
        "exchange": pgettext("portal", "WeChat could not confirm who you are just now. "
                                       "Nothing was charged."),
        "order": detail,
    }
    retry_url = qr_url = reverse("portal:home")
    if attempt is not None:
        retry_url = _retry_url(attempt["unit"], attempt.get("bills") or [],
                               topup=attempt.get("topup_fen") is not None)
        qr_url = retry_url + ("&" if "?" in retry_url else "?") + urlencode({"via": VIA_QR})
    return render(request, "portal/wechat_oauth_failed.html", {
        "message": messages[reason], "reason": reason, "retry_url": retry_url,
        "qr_url": qr_url, "has_attempt": attempt is not None, "nav": "bills",
    }, status=200 if reason == "cancelled" else 400)


@owner_required
@require_GET
def wechat_oauth_return(request):
    """WeChat sends the browser back here with ``code`` and our ``state`` (only the
    state when the user refused): check the state, learn the openid, pay on."""
    waiting = dict(request.session.get(OAUTH_KEY, {}))
    attempt = waiting.pop(request.GET.get("state", ""), None)
    if attempt is None or int(time.time()) - attempt["at"] >= OAUTH_WAIT_S:
        return _oauth_failed(request, "state", None)
    request.session[OAUTH_KEY] = waiting  # a state works once
    _unit_ids, unit = _unit_or_404(request, attempt["unit"])
    code = request.GET.get("code", "")
    if not code:
        return _oauth_failed(request, "cancelled", attempt)
    account = _wechat_account(unit.community_id)
    if account is None or account.app_id != attempt["app_id"] or not oauth_ready(account):
        return _oauth_failed(request, "exchange", attempt)
    try:
        openid = openid_for_code(account, code)
    except OAuthError as exc:
        logger.warning("portal: WeChat OAuth exchange for %s failed: %s", account.app_id, exc)
        return _oauth_failed(request, "exchange", attempt)
    remember_openid(request, account.app_id, openid)
    try:
        order = portal_order_create(
            request, unit=unit, option_key=attempt["option"], request_key=attempt["key"],
            bill_ids=attempt["bills"], topup_fen=attempt["topup_fen"])
    except OrderError as exc:
        return _oauth_failed(request, "order", attempt, detail=_error_text(exc))
    return _after_create(order)
