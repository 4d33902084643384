"""Walls between owners, generated from the URL configuration.

Every pattern of the ``portal`` and ``owners`` namespaces that takes an argument is
requested by owner B with owner A's object: it must answer 404. Owner A gets the same
URL without a 404 (so the sample really is A's object). A new id-taking pattern without
a sample registered here fails ``test_every_id_pattern_has_a_sample`` — so new pages
are covered as soon as they exist.

Samples: ``SAMPLES[name](world, paid) -> kwargs`` (``world`` from conftest; ``paid`` is
A's paid sandbox order). The owners app may add its own in
``linli/owners/tests/wall_samples.py`` as ``SAMPLES`` with the same signature.
"""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver, reverse

from linli.payments.models import PaymentOrder
from linli.receipts.models import Receipt

NAMESPACES = ("portal", "owners")


def _order(world, paid):
    return {"pk": paid.pk}


def _owner_session(world, paid):
    """A second signed-in session of owner A (not the test client's own)."""
    from django.utils import timezone

    from linli.owners.models import OwnerSession

    now = timezone.now()
    session = OwnerSession.objects.create(user=world.a.user, session_key="wall-sample-a",
                                          method="sms", created_at=now, last_seen_at=now)
    return {"session_id": session.pk}


SAMPLES = {
    "portal:bill": lambda w, paid: {"pk": w.a.bills[0].pk},
    "portal:pay": lambda w, paid: {"unit_id": w.a.unit.pk},
    "portal:topup": lambda w, paid: {"unit_id": w.a.unit.pk},
    "portal:order": _order,
    "portal:order-status": _order,
    "portal:order-check": _order,
    "portal:order-return": lambda w, paid: {"key": paid.idempotency_key.split(":", 1)[1]},
    "portal:receipt-pdf": lambda w, paid: {"pk": Receipt.objects.get(payment=paid.payment).pk},
    "owners:session-end": _owner_session,
}
try:
    from linli.owners.tests.wall_samples import SAMPLES as OWNERS_SAMPLES
except ImportError:
    OWNERS_SAMPLES = {}
SAMPLES.update(OWNERS_SAMPLES)


def id_patterns() -> list[str]:
    """``namespace:name`` of every pattern that takes an argument."""
    found = []
    resolver = get_resolver()
    for namespace in NAMESPACES:
        _prefix, sub = resolver.namespace_dict[namespace]
        stack = list(sub.url_patterns)
        while stack:
            pattern = stack.pop()
            if hasattr(pattern, "url_patterns"):  # a nested include
                stack.extend(pattern.url_patterns)
                continue
            route = str(pattern.pattern)
            if "<" in route or re.search(r"\(\?P<", route):
                found.append(f"{namespace}:{pattern.name}")
    return sorted(found)


def test_every_id_pattern_has_a_sample():
    missing = [name for name in id_patterns() if name not in SAMPLES]
    assert not missing, f"register a wall sample for {missing} in {__name__}"


def _request(client, url):
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url)
    return response


@pytest.fixture
def paid(world):
    """Owner A's order, paid through the sandbox (so it has a payment and a receipt)."""
    client = world.a.client
    url = reverse("portal:pay", args=[world.a.unit.pk])
    page = client.get(url)
    key = re.search(rb'name="key" value="([^"]+)"', page.content).group(1).decode()
    response = client.post(url, {"key": key, "bill": [b.pk for b in world.a.bills],
                                 "option": "sandbox:sandbox"})
    client.post(response["Location"])
    order = PaymentOrder.objects.get(unit=world.a.unit)
    assert order.status == PaymentOrder.Status.PAID
    return order


def test_owner_b_gets_404_for_everything_of_owner_a(world, paid):
    checked = []
    for name in id_patterns():
        kwargs = SAMPLES[name](world, paid)
        url = reverse(name, kwargs=kwargs)
        own = _request(world.a.client, url)
        assert own.status_code != 404, f"{name}: the sample is not owner A's ({url})"
        assert not own.get("Location", "").startswith(reverse("owners:signin")), name
        other = _request(world.b.client, url)
        assert other.status_code == 404, f"{name}: owner B got {other.status_code} for {url}"
        checked.append(name)
    assert "portal:bill" in checked and "portal:receipt-pdf" in checked
