"""Merchant accounts for the demo communities, wired to the local payment simulators.

``linli demo`` runs ``linli paysim`` beside the web server. Before it starts, every demo
community gets a WeChat Pay (with its official account's AppSecret, for the portal's
web authorization) and an Alipay merchant account opened at the simulator (the
simulator keeps its state, including the merchants' public keys, under
``$LINLI_HOME/paysim``; the merchant private keys exist only in our encrypted
``MerchantAccount``) and a sandbox account (模拟支付) — the sandbox exists only here.

Re-running the demo keeps accounts the simulator still knows and only points them at the
current ports; an account the simulator has forgotten (its folder was removed) is opened
again with new keys.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.db import transaction

from linli.estate.models import Community
from linli.payments.models import Channel, MerchantAccount
from linli.paysim.server import make_app


def provision_demo_merchants(*, site_url: str, paysim_url: str, state_dir: Path) -> int:
    """Open or refresh the demo communities' merchant accounts. Returns how many
    accounts were (re)opened at the simulator."""
    sims = make_app(state_dir, paysim_url)
    opened = 0
    try:
        with transaction.atomic():
            for community in Community.objects.order_by("pk"):
                opened += _wechat(community, sims.wechat, site_url)
                if sims.alipay is not None:
                    opened += _alipay(community, sims.alipay, site_url)
                sandbox_account_open(community, site_url)
    finally:
        sims.dispatcher.stop()
    return opened


def _account(community, channel: str) -> MerchantAccount:
    account = MerchantAccount.objects.filter(community=community, channel=channel).first()
    return account or MerchantAccount(community=community, channel=channel)


def _store(account: MerchantAccount, site_url: str, fields: dict | None = None) -> None:
    for name, value in (fields or {}).items():
        if name in {"channel", "notify_url"}:
            continue
        setattr(account, name, value)
    account.enabled = True
    account.notify_base_url = site_url
    account.save()


def _wechat(community, sim, site_url: str) -> int:
    account = _account(community, Channel.WECHAT)
    known = account.pk and account.private_key_pem and account.merchant_id in sim.merchants
    if known:
        fields = {"gateway_url": sim.public_url,
                  "platform_public_key_pem": sim.platform_public_key_pem,
                  "platform_public_key_id": sim.platform_key_id}
    else:
        fields = sim.provision_merchant(mchid=f"19{community.pk:08d}")
    # The official account's AppSecret, set at the simulator too, so the portal can
    # learn payers' openids (web authorization) and pay by JSAPI inside WeChat.
    fields["app_secret"] = sim.register_oauth_app(
        fields.get("app_id") or account.app_id, (account.app_secret or None) if known else None)
    _store(account, site_url, fields)
    return 0 if known else 1


def _alipay(community, sim, site_url: str) -> int:
    account = _account(community, Channel.ALIPAY)
    known = account.pk and account.private_key_pem and account.app_id in sim.apps
    if known:
        _store(account, site_url, {"gateway_url": sim.public_url + "/gateway.do",
                                   "platform_public_key_pem": sim.alipay_public_key_pem})
        return 0
    _store(account, site_url, sim.provision_merchant(app_id=f"20210000{community.pk:08d}"))
    return 1


def sandbox_account_open(community, site_url: str) -> None:
    """The community's sandbox account (模拟支付), opened once; pointed at ``site_url``."""
    account = _account(community, Channel.SANDBOX)
    if not account.sandbox_secret:
        account.sandbox_secret = secrets.token_urlsafe(32)
    _store(account, site_url)
