"""The demo's merchant accounts work against the simulators ``linli demo`` starts."""

from __future__ import annotations

import socket

import pytest

from linli import testing as t
from linli.demo.payments import provision_demo_merchants
from linli.payments.merchants import merchant_account_test
from linli.payments.models import Channel, MerchantAccount
from linli.paysim.common import ServerThread
from linli.paysim.server import make_app

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_community_gets_working_accounts_and_a_rerun_keeps_them(tmp_path):
    company = t.make_company()
    communities = [t.make_community(company, "一区"), t.make_community(company, "二区")]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    site = "http://127.0.0.1:8000"

    assert provision_demo_merchants(site_url=site, paysim_url=url, state_dir=tmp_path) == 4
    keys = dict(MerchantAccount.objects.values_list("pk", "merchant_serial"))
    # Again, as a second `linli demo` would: nothing is opened again, the keys stay.
    assert provision_demo_merchants(site_url=site, paysim_url=url, state_dir=tmp_path) == 0
    assert dict(MerchantAccount.objects.values_list("pk", "merchant_serial")) == keys

    accounts = MerchantAccount.objects.order_by("community_id", "channel")
    assert {(a.community_id, a.channel) for a in accounts} == {
        (c.pk, ch) for c in communities for ch in (Channel.WECHAT, Channel.ALIPAY, Channel.SANDBOX)
    }
    assert all(a.notify_base_url == site and a.enabled for a in accounts)
    wechat = accounts.filter(channel=Channel.WECHAT)
    assert all(a.app_secret for a in wechat)  # the portal can pay by JSAPI inside WeChat

    app = make_app(tmp_path, url)  # what the `linli paysim` child loads from the same folder
    try:
        with ServerThread(app, host="127.0.0.1", port=port):
            for account in accounts.exclude(channel=Channel.SANDBOX):
                assert merchant_account_test(account) == (True, "OK"), account
    finally:
        app.dispatcher.stop()


def test_a_simulator_that_forgot_its_merchants_opens_them_again(tmp_path):
    t.make_community(t.make_company())
    url = f"http://127.0.0.1:{_free_port()}"
    provision_demo_merchants(site_url="http://s", paysim_url=url, state_dir=tmp_path / "a")
    assert provision_demo_merchants(site_url="http://s", paysim_url=url,
                                    state_dir=tmp_path / "b") == 2
