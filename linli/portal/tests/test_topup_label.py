"""A top-up of the prepaid balance reads 预存 wherever its kind is shown — never 押金, the
word for a security deposit (issue 14)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from linli import testing as t
from linli.payments.models import Channel, PrepaidMovement
from linli.payments.services import prepaid_deposit

pytestmark = pytest.mark.django_db


def test_a_top_up_reads_yu_cun_not_ya_jin(world, client):
    cashier = t.make_staff(world.community.company, "cashier", [world.community])
    payment = prepaid_deposit(acting_user=cashier, unit=world.a.unit, amount_fen=30000,
                              channel=Channel.CASH, idempotency_key="topup-label")
    movement = PrepaidMovement.objects.get(payment=payment)
    assert movement.kind == PrepaidMovement.Kind.DEPOSIT
    history = world.a.client.get(reverse("portal:history")).content.decode()
    assert "预存" in history and "押金" not in history
    client.force_login(t.make_staff(world.community.company, "manager", [world.community]))
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "预存" in body and "押金" not in body
    statement = client.get(reverse("unit:statement", args=[world.a.unit.pk]))
    assert statement.status_code == 200
    assert "预存" in statement.content.decode() and "押金" not in statement.content.decode()
