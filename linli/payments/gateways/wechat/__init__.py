"""WeChat Pay API v3 (微信支付) adapter: ``WeChatPayGateway``."""

from linli.payments.gateways.wechat.gateway import WeChatPayGateway

__all__ = ["WeChatPayGateway"]
