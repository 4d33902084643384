"""Local payment-gateway simulators (模拟网关) that speak the real protocols.

WeChat Pay API v3 (``wechat/``) and Alipay OpenAPI with RSA2 (``alipay/``), each a WSGI
application in a package split by protocol area; ``server.py`` mounts both on one port.
They hold the gateway side's private keys, verify every request's signature strictly,
sign every response, keep real order and refund state machines and deliver notifications
with the real retry schedules (time-scaled in tests). Written on ``cryptography`` only,
so the real client libraries our adapters use are checked against an independent
implementation.
"""
