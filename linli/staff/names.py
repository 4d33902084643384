"""How a person who acted is named on pages: a staff member by their name (姓名), not
their sign-in username."""

from __future__ import annotations


def person_name(user, empty: str = "—") -> str:
    """The staff member's name; else the account's full name; else its username. ``empty``
    when nobody (a task, the system) acted."""
    if user is None:
        return empty
    staff = getattr(user, "staff", None)
    name = getattr(staff, "display_name", "") if staff is not None else ""
    return name or user.get_full_name() or user.get_username()
