"""Alipay (支付宝) OpenAPI with RSA2 in public-key mode, on python-alipay-sdk."""

from linli.payments.gateways.alipay.gateway import AlipayGateway, fen_to_yuan, yuan_to_fen

__all__ = ["AlipayGateway", "fen_to_yuan", "yuan_to_fen"]
