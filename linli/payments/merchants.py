"""Merchant accounts: the console's "test" of a configuration (gateway keys, and for
WeChat the official account's AppSecret)."""

from __future__ import annotations

import secrets

from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, TradeState
from linli.payments.models import MerchantAccount
from linli.payments.wechat_oauth import INVALID_CODE, OAuthError, oauth_ready, openid_for_code

# What gateways answer for an order they never saw (WeChat 404 ORDER_NOT_EXIST, Alipay
# ACQ.TRADE_NOT_EXIST): a verified answer, so the keys and signatures work.
NOT_FOUND_CODES = {"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ACQ.TRADE_NOT_EXIST", "TRADE_NOT_EXIST",
                   "NOT_FOUND"}


def merchant_account_test(account: MerchantAccount) -> tuple[bool, str]:
    """Query a made-up order: a verified "not found" / NOTPAY answer means the settings
    work; for WeChat with an AppSecret, also exchange a made-up OAuth code, which a
    right app id and AppSecret answer with "invalid code". Returns (ok, message)."""
    ok, message = _gateway_test(account)
    if ok and oauth_ready(account):
        return _oauth_test(account)
    return ok, message


def _oauth_test(account: MerchantAccount) -> tuple[bool, str]:
    try:
        openid_for_code(account, "LLTEST" + secrets.token_hex(13))
    except OAuthError as exc:
        if exc.errcode == INVALID_CODE:
            return True, "OK"
        return False, f"AppSecret: {exc}"
    return False, "AppSecret: a made-up code was accepted"


def _gateway_test(account: MerchantAccount) -> tuple[bool, str]:
    out_trade_no = "LLTEST" + secrets.token_hex(8).upper()
    try:
        status = gateway_for(account.config()).query(out_trade_no)
    except GatewayError as exc:
        if exc.code.upper() in NOT_FOUND_CODES:
            return True, "OK"
        return False, str(exc)
    except Exception as exc:  # a misconfiguration (bad PEM, bad URL) must show, not crash
        return False, f"{type(exc).__name__}: {exc}"
    if status.state in (TradeState.NOTPAY, TradeState.CLOSED):
        return True, "OK"
    return False, f"unexpected answer: {status.state}"
