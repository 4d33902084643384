"""One payment, prepaid balance and prepaid movement inside a given community, for the
console's scope tests (``linli/console/tests/test_scope_registry.py``), made through the
payment services like everything else."""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

from linli import testing as t
from linli.estate.models import Community
from linli.payments.models import Channel, Payment, PrepaidMovement, PrepaidWallet
from linli.payments.services import prepaid_deposit


def _deposit(community: Community, token: str) -> Payment:
    """A deposit for a unit whose room number is ``token``, paid in by ``token``."""
    unit = t.make_unit(community, building=f"{token}栋", room=token)
    return prepaid_deposit(acting_user=None, unit=unit, amount_fen=10000, channel=Channel.CASH,
                           payer_name=token, reference=token, idempotency_key=f"scope:{token}")


def _wallet(community: Community, token: str) -> PrepaidWallet:
    return PrepaidWallet.objects.get(unit=_deposit(community, token).unit)


def _movement(community: Community, token: str) -> PrepaidMovement:
    return PrepaidMovement.objects.get(payment=_deposit(community, token))


FACTORIES: dict[str, Callable[[Community, str], models.Model]] = {
    "payments.payment": _deposit,
    "payments.prepaidwallet": _wallet,
    "payments.prepaidmovement": _movement,
}
