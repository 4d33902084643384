"""Who may use the owner pages (the portal and the account pages).

An owner is a Django user without a staff role whose username is their mainland
mobile number (the owners app creates them on first sign-in). Staff accounts are
not owners: a staff member signed in to the console is sent to the owners' sign-in
page like anyone else.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from linli.owners.selectors import is_owner, owner_access

__all__ = ["is_owner", "owner_required"]


def owner_required(view):
    """Owner pages: signed-in owners only; anyone else goes to the sign-in page and
    comes back afterwards."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if owner_access(request.user) is None:  # is_owner, with the owner's units, one query
            url = reverse("owners:signin") + "?" + urlencode({"next": request.get_full_path()})
            return redirect(url)
        return view(request, *args, **kwargs)

    return wrapped
