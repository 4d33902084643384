"""A pay or top-up form whose request key was not written by our page (empty, a slash,
too long) is refused with a message, never a server error (it was NoReverseMatch)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from linli.payments.models import PaymentOrder


@pytest.mark.parametrize("key", ["", "a/b", "x" * 200, "ab cd efgh", "短短短短短短短短"])
@pytest.mark.parametrize("page", ["portal:pay", "portal:topup"])
def test_crafted_request_key_is_refused_not_a_500(world, key, page):
    data = {"key": key, "option": "sandbox:sandbox",
            "bill": [b.pk for b in world.a.bills], "amount": "100"}
    response = world.a.client.post(reverse(page, args=[world.a.unit.pk]), data)
    assert response.status_code == 400
    assert "过期" in response.content.decode() or "out of date" in response.content.decode()
    assert not PaymentOrder.objects.exists()
