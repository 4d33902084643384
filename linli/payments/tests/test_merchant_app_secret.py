"""The official account's AppSecret (公众号 AppSecret) in the merchant settings: stored
encrypted, never shown again, and checked by the console's "test the connection"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse

from linli import testing as t
from linli.payments.merchants import merchant_account_test
from linli.payments.models import Channel, MerchantAccount
from linli.paysim.tests.conftest import paysim_dispatcher, wechat_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(estate, wechat_server):  # noqa: F811
    sim, _server = wechat_server
    cfg = sim.provision_merchant(notify_url="http://127.0.0.1:9/n")
    return MerchantAccount.objects.create(
        community=estate["a1"], channel=Channel.WECHAT, app_id=cfg["app_id"],
        merchant_id=cfg["merchant_id"], merchant_serial=cfg["merchant_serial"],
        platform_public_key_id=cfg["platform_public_key_id"],
        platform_public_key_pem=cfg["platform_public_key_pem"],
        private_key_pem=cfg["private_key_pem"], api_v3_key=cfg["api_v3_key"],
        gateway_url=cfg["gateway_url"], notify_base_url="http://127.0.0.1:9",
        app_secret=sim.register_oauth_app(cfg["app_id"]))


def test_the_app_secret_is_write_only_and_encrypted(account, client):
    client.force_login(User.objects.create_superuser("root", "r@example.com", t.PASSWORD))
    url = reverse("admin:payments_merchantaccount_change", args=[account.pk])
    page = client.get(url).content.decode()
    assert 'name="app_secret"' in page and account.app_secret not in page
    form = {name: getattr(account, name) for name in (
        "app_id", "merchant_id", "merchant_serial", "platform_public_key_id",
        "platform_public_key_pem", "notify_base_url", "gateway_url")}
    form.update(community=account.community_id, channel="wechat", enabled="on",
                private_key_pem="", api_v3_key="", sandbox_secret="", app_secret="")
    assert client.post(url, form).status_code == 302
    kept = MerchantAccount.objects.get(pk=account.pk)
    assert kept.app_secret == account.app_secret  # blank kept it
    assert kept.private_key_pem == account.private_key_pem
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app_secret FROM {MerchantAccount._meta.db_table} WHERE id = %s",
                       [account.pk])
        raw = cursor.fetchone()[0]
    assert raw and account.app_secret not in raw  # the column holds ciphertext
    assert client.post(url, {**form, "app_secret": "new-secret"}).status_code == 302
    assert MerchantAccount.objects.get(pk=account.pk).app_secret == "new-secret"
    # The list says which secrets are stored, by their names in Chinese, never their values.
    listed = client.get(reverse("admin:payments_merchantaccount_changelist")).content.decode()
    names = [str(MerchantAccount._meta.get_field(n).verbose_name)
             for n in ("private_key_pem", "api_v3_key", "app_secret")]
    assert ", ".join(names) in listed and "private_key_pem" not in listed
    assert "new-secret" not in listed


def test_the_connection_test_checks_the_app_secret(account):
    assert merchant_account_test(account) == (True, "OK")
    account.app_secret = "not-the-secret"
    ok, message = merchant_account_test(account)
    assert not ok and "40125" in message


def test_who_may_only_view_an_account_never_sees_its_secrets(account, client, estate):
    from linli.staff.models import Role

    finance = t.make_staff(estate["company_a"], Role.FINANCE, [estate["a1"]])
    client.force_login(finance)
    url = reverse("admin:payments_merchantaccount_change", args=[account.pk])
    response = client.get(url)
    assert response.status_code == 200 and account.merchant_id in response.content.decode()
    page = response.content.decode()
    for secret in (account.private_key_pem.strip().splitlines()[1], account.api_v3_key,
                   account.app_secret):
        assert secret not in page
    assert "PRIVATE KEY" not in page
