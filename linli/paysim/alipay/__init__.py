"""Alipay OpenAPI simulator (模拟支付宝): RSA2, public-key mode, the real protocol.

It holds the Alipay key pair and, per provisioned app, only the app's *public* key, so
a request signed with any other key is refused as the real gateway refuses it
(``40002 isv.invalid-signature``). Every response is signed over the raw JSON text of
its ``<method>_response`` object; notifications are form POSTs signed with the Alipay
key and delivered by ``common.Dispatcher`` on ``ALIPAY_RETRY_SCHEDULE`` until the
receiver answers exactly ``success``. Written on ``cryptography`` only (never the
``alipay`` client package, which our adapter uses and which this checks).

Routes:
  /gateway.do                      every OpenAPI method; query string and form merged
      alipay.trade.precreate       → qr_code (the trade does not exist until scanned)
      alipay.trade.page.pay,       browser GETs → the cashier page, then the signed
      alipay.trade.wap.pay           return_url (wap: quit_url to give up)
      alipay.trade.query / close / refund / fastpay.refund.query
  /alipay/scan/<token>             "scanned the QR code" page (qr_code points here);
                                   opening it creates the trade (WAIT_BUYER_PAY),
                                   确认付款 pays it
  /alipay/cashier/<token>          page/wap cashier: 登录并付款, or give up (wap)
  /alipay/_sim/…                   JSON control for tests and the demo (see ``_control``)

Protocol choices worth knowing (they mirror the real gateway):
- Closing an unscanned precreate answers ``ACQ.TRADE_NOT_EXIST`` and changes nothing:
  the QR code stays payable until it expires (``time_expire``/``timeout_express``,
  default 2 h for precreate, 15 d otherwise). Page/wap trades likewise exist only once
  the buyer logs in and pays.
- ``timestamp`` must be within ``TIMESTAMP_WINDOW`` of the simulator's Beijing time,
  for browser methods too: generate a fresh page/wap URL for every redirect.
- A wrong ``product_code`` (e.g. ``QUICK_WAP_PAY`` for wap) is refused.

Package layout: ``sim`` (the ``AlipaySim`` class: keys, persistence, WSGI), with one
mixin per protocol area: ``gateway`` (``/gateway.do``: authentication, signed
responses, faults), ``trades``, ``refunds``, ``buyer`` (scan, pay, expire, finish),
``notify``, ``control`` (``/alipay/_sim/…``) and ``pages``; ``common`` holds the
constants, helpers and state records."""

from linli.paysim.alipay.common import (
    BEIJING,
    TIME_FORMAT,
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    AlipayError,
    App,
    Faults,
    RefundRecord,
    Trade,
    fmt_time,
    parse_time,
    sign_content,
    yuan,
)
from linli.paysim.alipay.sim import AlipaySim

__all__ = [
    "BEIJING", "TIME_FORMAT", "TRADE_CLOSED", "TRADE_FINISHED", "TRADE_SUCCESS",
    "WAIT_BUYER_PAY", "AlipayError", "AlipaySim", "App", "Faults", "RefundRecord", "Trade",
    "fmt_time", "parse_time", "sign_content", "yuan",
]
