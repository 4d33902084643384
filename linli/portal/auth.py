"""Who may use the owner portal.

An owner is a Django user without a staff role whose username is their mainland
mobile number (the owners app creates them on first sign-in). Staff accounts are
not owners: a staff member signed in to the console is sent to the portal's
sign-in page like anyone else.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse


def is_owner(user) -> bool:
    access = getattr(user, "_owner_access", False)  # owners.selectors.owner_access's answer
    if access is not False:
        return access is not None
    return bool(
        getattr(user, "is_authenticated", False) and user.is_active
        and not user.is_staff and not user.is_superuser
        and getattr(user, "staff", None) is None
    )


def owner_required(view):
    """Portal views: signed-in owners only; anyone else goes to the sign-in page and
    comes back afterwards."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        from linli.owners.selectors import owner_access

        if owner_access(request.user) is None:  # is_owner, with the owner's units, one query
            url = reverse("owners:signin") + "?" + urlencode({"next": request.get_full_path()})
            return redirect(url)
        return view(request, *args, **kwargs)

    return wrapped
