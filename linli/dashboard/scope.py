"""Whose takings a staff member sees: a cashier their own (their shift at the counter);
a manager, finance or company admin everyone's in their communities."""

from __future__ import annotations

from linli.counter.takings import SUPERVISING_ROLES
from linli.staff.scope import community_ids_for

TAKINGS_PERMISSION = "payments.view_payment"


def community_ids(user) -> frozenset[int]:
    return community_ids_for(user)


def sees_everyones_takings(user) -> bool:
    if user.is_superuser:
        return True
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role in SUPERVISING_ROLES


def own_cashier(user) -> int | None:
    """The cashier whose takings ``user`` is limited to (themselves), or None for all."""
    return None if sees_everyones_takings(user) else user.pk
