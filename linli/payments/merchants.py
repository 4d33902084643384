"""Merchant accounts: the console's "test" of a configuration."""

from __future__ import annotations

import secrets

from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, TradeState
from linli.payments.models import MerchantAccount

# What gateways answer for an order they never saw (WeChat 404 ORDER_NOT_EXIST, Alipay
# ACQ.TRADE_NOT_EXIST): a verified answer, so the keys and signatures work.
NOT_FOUND_CODES = {"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ACQ.TRADE_NOT_EXIST", "TRADE_NOT_EXIST",
                   "NOT_FOUND"}


def merchant_account_test(account: MerchantAccount) -> tuple[bool, str]:
    """Query a made-up order: a verified "not found" / NOTPAY answer means the settings
    work. Returns (ok, message)."""
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
