"""What an owner may see, and the lists of their account pages.

The units an owner sees are those with a current occupancy (any role) of a person whose
mobile is the owner account's (matched by the numbers' blind index: both are encrypted):
staff keep occupancies, the account only carries the number. A binding request adds a unit only once staff approve it (an occupancy).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from linli.estate.models import Occupancy, Person
from linli.owners.models import (
    BindingRequest,
    NotificationPreference,
    OwnerAccount,
    OwnerSession,
)
from linli.staff.models import StaffMember


def is_owner(user) -> bool:
    """A signed-in, active account with no staff role (the portal's and the account
    pages' rule); answered from ``owner_access``'s cache when this request has one."""
    access = getattr(user, "_owner_access", False)
    if access is not False:
        return access is not None
    return bool(
        getattr(user, "is_authenticated", False) and user.is_active
        and not user.is_staff and not user.is_superuser
        and getattr(user, "staff", None) is None
    )


def _account(user) -> OwnerAccount | None:
    try:
        return user.owner_account
    except (AttributeError, OwnerAccount.DoesNotExist):
        return None


def owner_mobile(user) -> str | None:
    """The owner's mobile number, or None for anyone who is not an owner."""
    if not is_owner(user):
        return None
    account = _account(user)
    return account.mobile if account is not None else None


def current_occupancies(user, *, today: dt.date | None = None) -> QuerySet[Occupancy]:
    account = _account(user) if is_owner(user) else None
    if account is None:
        return Occupancy.objects.none()
    today = today or timezone.localdate()
    return (Occupancy.objects.filter(person__mobile_index=account.mobile_index,
                                     start_date__lte=today)
            .exclude(end_date__lt=today))


def owner_unit_ids(user, *, today: dt.date | None = None) -> set[int]:
    """Units ``user`` may see (any role)."""
    return set(current_occupancies(user, today=today).values_list("unit_id", flat=True))


def owner_access(user, *, today: dt.date | None = None) -> frozenset[int] | None:
    """``None`` when ``user`` is not an owner (``is_owner``), else ``owner_unit_ids(user)``:
    both answered by one plain query (the occupancy rule of ``current_occupancies``, and a
    staff row, which makes the account no owner), cached on the user object, which lives
    for one request (a later ``today`` does not change a cached answer). The portal's
    pages ask this once per request instead of two ORM queries (the staff row, the
    occupancies); the tests hold it to ``is_owner`` and ``owner_unit_ids``."""
    cached = getattr(user, "_owner_access", _UNSET)
    if cached is not _UNSET:
        return cached
    access = _owner_access(user, today=today or timezone.localdate())
    if getattr(user, "is_authenticated", False):
        user._owner_access = access
    return access


_UNSET = object()


def _owner_access(user, *, today: dt.date) -> frozenset[int] | None:
    if not (getattr(user, "is_authenticated", False) and user.is_active
            and not user.is_staff and not user.is_superuser):
        return None
    # A staff row answers NULL; an occupancy of the account's number its unit id.
    sql = (f"SELECT NULL FROM {StaffMember._meta.db_table} WHERE user_id = %s"
           f" UNION ALL SELECT o.unit_id FROM {OwnerAccount._meta.db_table} a"
           f" JOIN {Person._meta.db_table} p ON p.mobile_index = a.mobile_index"
           f" JOIN {Occupancy._meta.db_table} o ON o.person_id = p.id"
           " WHERE a.user_id = %s AND o.start_date <= %s"
           " AND (o.end_date IS NULL OR o.end_date >= %s)")
    day = connection.ops.adapt_datefield_value(today)
    params: list = [user.pk, user.pk, day, day]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [unit_id for (unit_id,) in cursor.fetchall()]
    if None in ids:
        return None
    return frozenset(ids)


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
