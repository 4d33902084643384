"""What an owner may see, and the lists of their account pages.

The units an owner sees are those with a current occupancy (any role) of a person whose
mobile is the owner's username: staff keep occupancies, the account only carries the
number. A binding request adds a unit only once staff approve it (an occupancy).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.sessions.models import Session
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from linli.core.validators import MOBILE_RE
from linli.estate.models import Occupancy
from linli.owners.models import BindingRequest, NotificationPreference, OwnerSession
from linli.portal.auth import is_owner


def owner_mobile(user) -> str | None:
    """The owner's mobile number, or None for anyone who is not an owner."""
    if not is_owner(user):
        return None
    username = user.get_username()
    return username if MOBILE_RE.match(username) else None


def current_occupancies(user, *, today: dt.date | None = None) -> QuerySet[Occupancy]:
    mobile = owner_mobile(user)
    if mobile is None:
        return Occupancy.objects.none()
    today = today or timezone.localdate()
    return (Occupancy.objects.filter(person__mobile=mobile, start_date__lte=today)
            .exclude(end_date__lt=today))


def owner_unit_ids(user, *, today: dt.date | None = None) -> set[int]:
    """Units ``user`` may see (any role)."""
    return set(current_occupancies(user, today=today).values_list("unit_id", flat=True))


def owner_payer_unit_ids(user, *, today: dt.date | None = None) -> set[int]:
    """Units ``user`` may pay for: occupancies marked "pays the fees", and the units they
    own (an owner answers for the fees even when a tenant is the one who pays them).
    Family members and tenants who are not the payer see the bills but do not pay."""
    owning = (Occupancy.Role.OWNER, Occupancy.Role.CO_OWNER)
    return set(current_occupancies(user, today=today)
               .filter(Q(is_payer=True) | Q(role__in=owning))
               .values_list("unit_id", flat=True))


def owner_sessions(user) -> list[OwnerSession]:
    """The owner's sessions that are still signed in, most recently used first."""
    alive = Session.objects.filter(session_key=OuterRef("session_key"),
                                   expire_date__gt=timezone.now())
    return list(OwnerSession.objects.filter(user=user, ended_at__isnull=True)
                .filter(Exists(alive)).order_by("-last_seen_at", "-id"))


def owner_notifications(user) -> NotificationPreference:
    """The owner's preferences (the defaults, unsaved, if they never chose)."""
    return (NotificationPreference.objects.filter(user=user).first()
            or NotificationPreference(user=user))


def owner_binding_requests(user) -> QuerySet[BindingRequest]:
    return (BindingRequest.objects.filter(user=user)
            .select_related("community", "unit__building").order_by("-created_at", "-id"))
