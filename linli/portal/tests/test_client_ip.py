"""A portal order records the payer's IP (WeChat H5 sends it to the gateway), read
behind trusted proxies by ``linli.core.http.client_ip``."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from linli.payments.models import PaymentOrder


@pytest.mark.parametrize("proxies, expected", [(0, "10.0.0.2"), (1, "198.51.100.7")])
def test_the_order_records_the_clients_ip(world, settings, proxies, expected):
    settings.LINLI_TRUSTED_PROXY_COUNT = proxies
    owner = world.a
    url = reverse("portal:pay", args=[owner.unit.pk])
    key = re.search(rb'name="key" value="([^"]+)"',
                    owner.client.get(url).content).group(1).decode()
    owner.client.post(url, {"key": key, "bill": [b.pk for b in owner.bills],
                            "option": "sandbox:sandbox"},
                      REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert PaymentOrder.objects.get().client_ip == expected
