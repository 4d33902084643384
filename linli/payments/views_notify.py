"""The public notification endpoint: one URL per merchant account,
``POST /pay/notify/<channel>/<account id>/`` (no CSRF: gateways sign instead)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from linli.core.http import client_ip
from linli.payments.gateways import sandbox_enabled
from linli.payments.models import Channel, MerchantAccount
from linli.payments.notifications import notification_receive, request_headers


@csrf_exempt
@require_POST
def notify(request, channel: str, account_id: int):
    account = (MerchantAccount.objects.select_related("community")
               .filter(pk=account_id, channel=channel).first())
    if account is None or (channel == Channel.SANDBOX and not sandbox_enabled()):
        raise Http404("no such merchant account")
    ack = notification_receive(account, headers=request_headers(request.META),
                               body=request.body, remote_addr=client_ip(request))
    return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)
