"""Payment gateways behind one small interface (``base.Gateway``).

``gateway_for(config)`` returns the adapter for a merchant configuration. Each channel
lives in its own package: ``wechat`` (wechatpayv3), ``alipay`` (python-alipay-sdk),
``sandbox`` (the demo's not-real-money channel, same notification path).
"""

from __future__ import annotations

from linli.payments.gateways.base import Gateway, MerchantConfig


def gateway_for(config: MerchantConfig) -> Gateway:
    if config.channel == "wechat":
        from linli.payments.gateways.wechat import WeChatPayGateway

        return WeChatPayGateway(config)
    if config.channel == "alipay":
        from linli.payments.gateways.alipay import AlipayGateway

        return AlipayGateway(config)
    if config.channel == "sandbox":
        from linli.payments.gateways.sandbox import SandboxGateway

        return SandboxGateway(config)
    raise ValueError(f"no gateway for channel {config.channel!r}")
