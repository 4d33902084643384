"""A pay form sent many times at once (a double tap, a flaky network resending) makes one
order, on PostgreSQL, where the requests really race."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from linli.payments.models import PaymentOrder
from linli.payments.tests.test_orders_concurrency import in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_form_sent_ten_times_at_once_makes_one_order(world):
    url = reverse("portal:pay", args=[world.a.unit.pk])
    page = world.a.client.get(url)
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    session = world.a.client.cookies

    def submit(_i):
        client = Client()
        client.cookies = session
        return client.post(url, {"key": key, "bill": [b.pk for b in world.a.bills],
                                 "option": "sandbox:sandbox"})

    responses = in_threads(10, submit)
    assert [r.status_code for r in responses] == [302] * 10
    order = PaymentOrder.objects.get()
    assert {r["Location"] for r in responses} == {order.redirect_url}
    assert order.amount_fen == 20000
