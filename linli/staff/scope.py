"""Which communities a person may see. Every query a staff member makes is cut by this."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from linli.estate.models import Community
from linli.staff.models import Role

_CACHE_ATTR = "_linli_community_ids"


def communities_for(user) -> QuerySet[Community]:
    """Communities ``user`` works in: all for a platform superuser, the whole company for
    a company admin, the assigned ones otherwise, none for anyone else."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Community.objects.none()
    if user.is_superuser:
        return Community.objects.all()
    staff = getattr(user, "staff", None)
    if staff is None:
        return Community.objects.none()
    if staff.role == Role.COMPANY_ADMIN:
        return Community.objects.filter(company_id=staff.company_id)
    return staff.communities.filter(company_id=staff.company_id)


def community_ids_for(user) -> frozenset[int]:
    """The same as ``communities_for``, as ids, cached on the user object per request."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = frozenset(communities_for(user).values_list("id", flat=True))
        try:
            setattr(user, _CACHE_ATTR, cached)
        except AttributeError:  # AnonymousUser
            pass
    return cached


def company_id_for(user) -> int | None:
    staff = getattr(user, "staff", None)
    return staff.company_id if staff else None


def scope_queryset(qs: QuerySet, user, community_path: str) -> QuerySet:
    """Filter ``qs`` to rows whose ``community_path`` (e.g. ``unit__community``) is in
    the user's communities."""
    if getattr(user, "is_superuser", False) and user.is_active:
        return qs
    return qs.filter(**{f"{community_path}__in": community_ids_for(user)})


def require_community_in_scope(value: str | None, communities: QuerySet[Community]) -> None:
    """A posted community id outside ``communities`` answers 404, like every console
    page (never "exists but forbidden")."""
    if value and (not str(value).isdigit() or not communities.filter(pk=value).exists()):
        raise Http404("community not found")
