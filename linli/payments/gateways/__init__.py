"""Payment gateways behind one small interface (``base.Gateway``).

``gateway_for(config)`` returns the adapter for a merchant configuration. Each channel
lives in its own package: ``wechat`` (wechatpayv3), ``alipay`` (python-alipay-sdk),
``sandbox`` (the demo's not-real-money channel, same notification path).

Every trade state a channel can report is mapped to ``TradeState`` by one table per
channel (``wechat/states.py``, ``alipay/states.py``, on ``statetable.py``);
``docs/channel-states.md`` is rendered from them (``channel_states.py``).
"""

from __future__ import annotations

import json

from linli.payments.gateways.base import Ack, Gateway, GatewayError, MerchantConfig


def sandbox_enabled() -> bool:
    """The sandbox (模拟支付) takes no real money, so it works only where that is the
    point: the demo (``LINLI_DEMO``) or where it is switched on explicitly."""
    from django.conf import settings

    return bool(getattr(settings, "LINLI_SANDBOX_PAYMENTS", False))


def gateway_for(config: MerchantConfig) -> Gateway:
    if config.channel == "wechat":
        from linli.payments.gateways.wechat import WeChatPayGateway

        return WeChatPayGateway(config)
    if config.channel == "alipay":
        from linli.payments.gateways.alipay import AlipayGateway

        return AlipayGateway(config)
    if config.channel == "sandbox":
        from linli.payments.gateways.sandbox import SandboxGateway

        if not sandbox_enabled():
            raise GatewayError("SANDBOX_DISABLED", "the sandbox works only in the demo")

        return SandboxGateway(config)
    raise ValueError(f"no gateway for channel {config.channel!r}")


def failure_answer(channel: str, status: int, message: str) -> Ack:
    """A channel's "not accepted" answer to a notification, without its merchant's
    adapter (unknown account, body too large): WeChat Pay v3 a 4xx/5xx with
    ``{"code": "FAIL", "message": …}``; Alipay and the sandbox the plain text ``fail``."""
    if channel == "wechat":
        body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False)
        return Ack(status=status, body=body.encode(), content_type="application/json")
    return Ack(status=status, body=b"fail", content_type="text/plain")
