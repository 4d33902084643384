"""WeChat Pay API v3 simulator (模拟微信支付): a WSGI application speaking the real protocol.

It holds the WeChat Pay platform key pair (public-key mode, ``PUB_KEY_ID_…``) and, per
provisioned merchant, only the merchant's *public* key, so a request signed with any
other key is refused exactly as the real gateway would refuse it (401 SIGN_ERROR).
Every API response is signed with the platform key; notifications are encrypted with
the merchant's APIv3 key (AES-256-GCM) and delivered by ``common.Dispatcher`` on the
real retry schedule. Written on ``cryptography`` only.

Routes:
  /v3/pay/transactions/{native,jsapi,h5}                      create
  /v3/pay/transactions/out-trade-no/{no}?mchid=               query
  /v3/pay/transactions/id/{transaction_id}?mchid=             query
  /v3/pay/transactions/out-trade-no/{no}/close                close (204, signed)
  /v3/refund/domestic/refunds                                 refund
  /v3/refund/domestic/refunds/{out_refund_no}                 query refund
  /wechat/scan/<token>      "scanned the QR code" page (code_url is weixin://…?pr=<token>)
  /wechat/h5/<token>        H5 cashier (``&redirect_url=`` is honoured after paying)
  /wechat/jsapi/<prepay_id> the WeChat-browser payment sheet (``?redirect_url=``)
  /wechat/_sim/…            JSON control for tests and the demo (see ``_control``)
  /connect/oauth2/authorize, /sns/oauth2/access_token
                            official-account web authorization (``wechat_oauth.py``)

Package layout: ``sim`` (the ``WeChatSim`` class: keys, persistence, WSGI), with one
mixin per protocol area: ``api`` (authentication, routing, signed responses),
``trades``, ``refunds``, ``notify``, ``control`` (``/wechat/_sim/…``) and ``pages``;
``common`` holds the constants and state records."""

from linli.paysim.wechat.common import (
    CST,
    DEFAULT_EXPIRY,
    MAX_REFUNDS_PER_ORDER,
    SIGNATURE_TYPE,
    TIMESTAMP_WINDOW,
    ApiError,
    Faults,
    Merchant,
    Order,
    Refund,
    jsapi_page_url,
    rfc3339,
    scan_page_url,
)
from linli.paysim.wechat.pages import _page
from linli.paysim.wechat.sim import WeChatSim

__all__ = [
    "CST", "DEFAULT_EXPIRY", "MAX_REFUNDS_PER_ORDER", "SIGNATURE_TYPE", "TIMESTAMP_WINDOW",
    "ApiError", "Faults", "Merchant", "Order", "Refund", "WeChatSim", "_page",
    "jsapi_page_url", "rfc3339", "scan_page_url",
]
