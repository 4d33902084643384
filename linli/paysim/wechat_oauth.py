"""WeChat official-account web authorization (网页授权) for the simulator: how a page
inside WeChat's browser learns the payer's openid, which JSAPI payments need.

  /connect/oauth2/authorize?appid=&redirect_uri=&response_type=code&scope=&state=
        snsapi_base redirects at once (real WeChat asks nothing for it) to
        ``redirect_uri?code=CODE&state=STATE``; snsapi_userinfo shows a consent page
        (授权登录 (模拟)) whose "deny" comes back with ``state`` only, as WeChat does.
  /sns/oauth2/access_token?appid=&secret=&code=&grant_type=authorization_code
        → ``{access_token, expires_in, refresh_token, openid, scope}`` or, like the real
        API, HTTP 200 with ``{errcode, errmsg}``.

WeChat's client consumes the authorize URL's ``#wechat_redirect``; an ordinary browser
keeps it across the redirects (harmless: pages ignore it). A code is single-use, expires after 5 minutes and is bound to the app id it was issued
for. The openid is stable per (app id, simulated WeChat user); the user is the one named
by the ``paysim_wx_user`` cookie at the simulator, else one fixed default user, so the
same browser always gets the same openid. Apps (app id → AppSecret) are registered by
``WeChatSim.register_oauth_app`` (the demo does it when it opens its merchants).
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import string
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from linli.paysim.common import Request, Response

if TYPE_CHECKING:
    from linli.paysim.wechat import WeChatSim

CODE_TTL_S = 300
ACCESS_TOKEN_TTL_S = 7200
USER_COOKIE = "paysim_wx_user"
DEFAULT_USER = "wxuser"
SCOPES = ("snsapi_base", "snsapi_userinfo")
USER_RE = re.compile(r"[A-Za-z0-9_-]+")
STATE_MAX_BYTES = 128
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"

# errcode → errmsg as the real API words them (it appends ", rid: …").
ERRORS = {
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
}


@dataclass
class OAuthCode:
    appid: str
    openid: str
    scope: str
    redirect_uri: str
    issued: float
    used: bool = False


def _alnum(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (its fragment dropped, as WeChat does)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


class WeChatOAuthSim:
    """The two OAuth endpoints; state (apps, codes) lives in the ``WeChatSim``."""

    def __init__(self, sim: WeChatSim) -> None:
        self.sim = sim
        self.codes: dict[str, OAuthCode] = {}

    # ------------------------------------------------------------ identities

    def openid(self, appid: str, user: str) -> str:
        """The user's openid under ``appid``: stable, different per app (as in WeChat)."""
        digest = hashlib.sha256(
            f"{self.sim.platform_key_id}:{appid}:{user}".encode()).hexdigest()
        return "o" + digest[:27]

    @staticmethod
    def user_of(request: Request) -> str:
        cookie = SimpleCookie()
        try:
            cookie.load(request.headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header means "no user chosen"
            return DEFAULT_USER
        morsel = cookie.get(USER_COOKIE)
        value = morsel.value if morsel else ""
        return value[:64] if USER_RE.fullmatch(value[:64]) else DEFAULT_USER

    def issue_code(self, appid: str, user: str, *, scope: str = "snsapi_base",
                   redirect_uri: str = "") -> str:
        code = _alnum(32)
        with self.sim._lock:
            now = self.sim.clock()
            self.codes = {c: v for c, v in self.codes.items() if now - v.issued < CODE_TTL_S}
            self.codes[code] = OAuthCode(appid=appid, openid=self.openid(appid, user),
                                         scope=scope, redirect_uri=redirect_uri, issued=now)
        return code

    # ------------------------------------------------------------ WSGI

    def handle(self, request: Request) -> Response:
        if request.path == "/connect/oauth2/authorize":
            return self._authorize(request)
        if request.path == "/sns/oauth2/access_token":
            return self._access_token(request)
        return Response.json({"errcode": 40066, "errmsg": "invalid url"})

    def _authorize(self, request: Request) -> Response:
        q = request.form
        appid, redirect_uri = q.get("appid", ""), q.get("redirect_uri", "")
        scope, state = q.get("scope", ""), q.get("state", "")
        if appid not in self.sim.oauth_apps:
            return _error_page("参数错误", "appid 无效（未在模拟器登记的公众号）。")
        if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(
                redirect_uri).netloc:
            return _error_page("redirect_uri 参数错误", "redirect_uri 必须是 http(s) 地址。")
        if q.get("response_type") != "code":
            return _error_page("参数错误", "response_type 必须为 code。")
        if scope not in SCOPES:
            return _error_page("Scope 参数错误或没有 Scope 权限", f"scope={html.escape(scope)}")
        if len(state.encode()) > STATE_MAX_BYTES:
            return _error_page("参数错误", "state 不能超过 128 字节。")
        user = self.user_of(request)
        if scope == "snsapi_base" or (request.method == "POST"
                                      and request.form.get("consent") == "allow"):
            code = self.issue_code(appid, user, scope=scope, redirect_uri=redirect_uri)
            response = _redirect(_with_query(redirect_uri, {"code": code, "state": state}))
        elif request.method == "POST":  # denied: WeChat comes back with the state only
            response = _redirect(_with_query(redirect_uri, {"state": state}))
        else:
            response = Response.html(_consent_page(appid, user, request))
        # The browser keeps being this WeChat user (the JSAPI sheet checks it).
        response.headers.append(("Set-Cookie", f"{USER_COOKIE}={user}; Path=/; SameSite=Lax"))
        return response

    def _access_token(self, request: Request) -> Response:
        q = request.form
        appid, secret, code = q.get("appid", ""), q.get("secret", ""), q.get("code", "")
        if not appid:
            return _api_error(41002)
        if not secret:
            return _api_error(41004)
        if not code:
            return _api_error(41008)
        if q.get("grant_type") != "authorization_code":
            return _api_error(40002)
        known = self.sim.oauth_apps.get(appid)
        if known is None:
            return _api_error(40013)
        if not secrets.compare_digest(known.encode(), secret.encode()):
            return _api_error(40125)
        with self.sim._lock:
            found = self.codes.get(code)
            if found is None or found.appid != appid \
                    or self.sim.clock() - found.issued >= CODE_TTL_S:
                return _api_error(40029)
            if found.used:
                return _api_error(40163)
            found.used = True
        return Response.json({
            "access_token": _alnum(86), "expires_in": ACCESS_TOKEN_TTL_S,
            "refresh_token": _alnum(86), "openid": found.openid, "scope": found.scope,
        })


def _api_error(errcode: int) -> Response:
    return Response.json({"errcode": errcode,
                          "errmsg": f"{ERRORS[errcode]}, rid: {secrets.token_hex(12)}"})


def _redirect(url: str) -> Response:
    # Header values are Latin-1: percent-encode anything else (RFC 3986).
    return Response.redirect(quote(url, safe=_URL_SAFE))


def _error_page(title: str, text: str) -> Response:
    from linli.paysim.wechat import _page

    return Response.html(_page(title, f"<p class=error>{html.escape(text)}</p>"), 400)


def _consent_page(appid: str, user: str, request: Request) -> str:
    from linli.paysim.wechat import _page

    esc = html.escape
    action = esc(request.path + (f"?{request.query_string}" if request.query_string else ""))
    body = (f"<p class=merchant>公众号 AppID {esc(appid)}</p>"
            f"<p class=desc>模拟微信用户：{esc(user)}</p>"
            "<p>该网页申请获取你的昵称、头像。</p>"
            f'<form method=post action="{action}">'
            "<button type=submit name=consent value=allow class=pay>允许</button>"
            "<button type=submit name=consent value=deny class=deny>拒绝</button></form>")
    return _page("授权登录 (模拟)", body)
