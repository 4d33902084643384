"""The client's IP behind trusted reverse proxies (``LINLI_TRUSTED_PROXY_COUNT``)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from linli.core.crypto import mobile_index
from linli.core.http import client_ip
from linli.owners.models import VerificationCode

PROXY = "10.0.0.2"


def request(xff: str | None = None, remote: str = PROXY):
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **extra)


def test_without_proxies_the_header_is_ignored(settings):
    settings.LINLI_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request("203.0.113.9")) == PROXY
    assert client_ip(request(remote="")) is None


@pytest.mark.parametrize("proxies, xff, expected", [
    (1, "198.51.100.7", "198.51.100.7"),
    # the client wrote the left part itself: only the entry our proxy added counts
    (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),
    (2, "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
    (2, "198.51.100.7", "198.51.100.7"),  # fewer hops than proxies: the leftmost
    (1, "198.51.100.7:51234", "198.51.100.7"),
    (1, "[2001:db8::1]:443", "2001:db8::1"),
    (1, "2001:db8::1", "2001:db8::1"),
    (1, "not-an-ip", PROXY),
    (1, "", PROXY),
])
def test_behind_proxies_the_nth_hop_from_the_right(settings, proxies, xff, expected):
    settings.LINLI_TRUSTED_PROXY_COUNT = proxies
    assert client_ip(request(xff)) == expected


def test_sms_limits_count_the_forwarded_client(client, settings, db):
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    settings.LINLI_TRUSTED_PROXY_COUNT = 1
    for mobile, forwarded in (("13800138001", "1.1.1.1, 198.51.100.7"),
                              ("13800138002", "198.51.100.8")):
        client.post("/m/account/signin/", {"form": "sms", "action": "send", "mobile": mobile},
                    REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert dict(VerificationCode.objects.values_list("mobile_index", "ip")) == {
        mobile_index("13800138001"): "198.51.100.7", mobile_index("13800138002"): "198.51.100.8"}
