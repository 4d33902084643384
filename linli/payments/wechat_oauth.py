"""WeChat official-account web authorization (网页授权, scope ``snsapi_base``): how a page
opened in WeChat's browser learns the payer's openid, which JSAPI payments need.

1. Send the browser to ``authorize_url`` (WeChat answers at once, without a prompt, for
   ``snsapi_base``) — it comes back to ``redirect_uri?code=CODE&state=STATE``.
2. ``openid_for_code`` exchanges the code server-side (it needs the AppSecret) for
   ``{access_token, expires_in, refresh_token, openid, scope}``; a code works once and
   for 5 minutes, and errors come as HTTP 200 with ``{errcode, errmsg}``.

An account whose gateway URL points at the local simulator (``is_simulated``) talks to
the simulator's copies of both endpoints instead of open.weixin.qq.com and
api.weixin.qq.com.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import requests

from linli.payments.models import MerchantAccount
from linli.payments.qr import is_simulated

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
ACCESS_TOKEN_URL = "https://api.weixin.qq.com/sns/oauth2/access_token"
AUTHORIZE_PATH = "/connect/oauth2/authorize"
ACCESS_TOKEN_PATH = "/sns/oauth2/access_token"
SCOPE = "snsapi_base"
TIMEOUT_S = 5
INVALID_CODE = 40029


class OAuthError(Exception):
    """The exchange failed: WeChat's ``errcode``/``errmsg``, or 0 and the network error."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def oauth_ready(account: MerchantAccount | None) -> bool:
    """Can this account learn openids (a WeChat account with an app id and AppSecret)?"""
    return bool(account is not None and account.channel == "wechat" and account.app_id
                and account.app_secret)


def _endpoint(account: MerchantAccount, real: str, path: str) -> str:
    if is_simulated(account):
        return account.gateway_url.rstrip("/") + path
    return real


def authorize_url(account: MerchantAccount, *, redirect_uri: str, state: str) -> str:
    """Where to send the browser. WeChat wants the parameters in this order and the
    ``#wechat_redirect`` fragment; ``state`` must be ``[A-Za-z0-9]{,128}``."""
    query = urlencode([("appid", account.app_id), ("redirect_uri", redirect_uri),
                       ("response_type", "code"), ("scope", SCOPE), ("state", state)],
                      quote_via=quote)
    return f"{_endpoint(account, AUTHORIZE_URL, AUTHORIZE_PATH)}?{query}#wechat_redirect"


def openid_for_code(account: MerchantAccount, code: str) -> str:
    """Exchange ``code`` for the payer's openid under the account's app id."""
    url = _endpoint(account, ACCESS_TOKEN_URL, ACCESS_TOKEN_PATH)
    try:
        response = requests.get(url, timeout=TIMEOUT_S, params={
            "appid": account.app_id, "secret": account.app_secret or "", "code": code,
            "grant_type": "authorization_code"})
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise OAuthError(0, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise OAuthError(0, "unexpected answer")
    if data.get("errcode"):
        raise OAuthError(int(data["errcode"]), str(data.get("errmsg", "")))
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        raise OAuthError(0, "no openid in the answer")
    return openid
