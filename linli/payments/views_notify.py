"""The public notification endpoint: one URL per merchant account,
``POST /pay/notify/<channel>/<account id>/`` (no CSRF: gateways sign instead).

Whatever arrives, the answer is the channel's own (``gateways.failure_answer``): WeChat
Pay a 4xx/5xx with ``{"code": "FAIL", "message": …}``, Alipay and the sandbox the text
``fail`` — never an HTML error page. The body is read bounded
(``notify_limits.delivery_read``)."""

from __future__ import annotations

import logging

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from linli.core.http import client_ip
from linli.payments.gateways import failure_answer, sandbox_enabled
from linli.payments.gateways.base import Ack
from linli.payments.models import Channel, MerchantAccount
from linli.payments.notifications import notification_receive
from linli.payments.notify_limits import delivery_read

logger = logging.getLogger("linli.payments")

CHANNELS = {Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX}


def _answer(ack: Ack) -> HttpResponse:
    return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)


@csrf_exempt
@require_POST
def notify(request, channel: str, account_id: int):
    if channel not in CHANNELS:
        return HttpResponse(b"not found", status=404, content_type="text/plain")
    account = (MerchantAccount.objects.select_related("community")
               .filter(pk=account_id, channel=channel).first())
    if account is None or (channel == Channel.SANDBOX and not sandbox_enabled()):
        return _answer(failure_answer(channel, 404, "no such merchant account"))
    try:
        delivery = delivery_read(request)
    except OSError:  # the sender went away in the middle of the body
        return _answer(failure_answer(channel, 400, "body unreadable"))
    try:
        ack = notification_receive(account, headers=delivery.headers, body=delivery.body,
                                   remote_addr=client_ip(request), size=delivery.size,
                                   complete=delivery.complete)
    except Exception:  # logged with its traceback; the gateway will deliver again
        logger.exception("notification for %s failed", account)
        ack = failure_answer(channel, 500, "internal error")
    return _answer(ack)
