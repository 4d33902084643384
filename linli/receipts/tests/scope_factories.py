"""One receipt inside a given community, for the console's scope tests
(``linli/console/tests/test_scope_registry.py``): a prepaid deposit paid in by
``token`` for a unit numbered ``token``, whose receipt the page finds by payer name."""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

from linli import testing as t
from linli.estate.models import Community
from linli.payments.models import Channel
from linli.payments.services import prepaid_deposit
from linli.receipts.models import Receipt


def _receipt(community: Community, token: str) -> Receipt:
    unit = t.make_unit(community, building=f"{token}栋", room=token)
    payment = prepaid_deposit(acting_user=None, unit=unit, amount_fen=10000,
                              channel=Channel.CASH, payer_name=token, reference=token,
                              idempotency_key=f"scope-receipt:{token}")
    return Receipt.objects.get(payment=payment)


FACTORIES: dict[str, Callable[[Community, str], models.Model]] = {
    "receipts.receipt": _receipt,
}
