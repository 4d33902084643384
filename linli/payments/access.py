"""Who may pay what online: staff for the bills of their communities, everyone else for
the units they pay for (the owners app's rule)."""

from __future__ import annotations

from linli.billing.models import Bill
from linli.owners.selectors import owner_payer_unit_ids
from linli.staff.scope import community_ids_for


def payer_unit_ids(user) -> set[int]:
    """Units a user without a staff role pays for: the owners app's rule (an owner's
    current occupancies marked "pays the fees", ``is_payer``)."""
    return owner_payer_unit_ids(user)


def can_pay(user, bill: Bill) -> bool:
    """May ``user`` start an online payment of ``bill``? Staff (a cashier or anyone who
    may take payments): any bill of their communities. Anyone else: bills of the units
    they pay for (``payer_unit_ids``)."""
    return can_pay_for_unit(user, community_id=bill.community_id, unit_id=bill.unit_id)


def can_pay_for_unit(user, *, community_id: int, unit_id: int) -> bool:
    """``can_pay``'s rule for a unit itself (a prepaid top-up pays no bill)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or getattr(user, "staff", None) is not None:
        return (community_id in community_ids_for(user)
                and user.has_perm("payments.add_payment"))
    return unit_id in payer_unit_ids(user)
