"""Reading the estate: who answers for a unit's fees on a date."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from linli.estate.models import Occupancy


def payers_of(unit_ids, on: dt.date) -> dict[int, tuple[str, str]]:
    """(name, mobile) per unit of the person living there on ``on`` who pays the fees,
    else of its owner (or co-owner); units with neither are left out. One query."""
    current = Q(start_date__lte=on) & (Q(end_date__isnull=True) | Q(end_date__gte=on))
    rows = (Occupancy.objects.filter(current, unit_id__in=list(unit_ids))
            .filter(Q(is_payer=True) | Q(role__in=[Occupancy.Role.OWNER, Occupancy.Role.CO_OWNER]))
            .select_related("person").order_by("unit_id", "-is_payer", "role", "id"))
    out: dict[int, tuple[str, str]] = {}
    for occupancy in rows:
        out.setdefault(occupancy.unit_id, (occupancy.person.name, occupancy.person.mobile))
    return out
