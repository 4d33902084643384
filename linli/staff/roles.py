"""What each role may do in the console, as Django permissions on role groups.

Scope (which communities) is separate: see ``linli.staff.scope``.
"""

from __future__ import annotations

from linli.staff.models import Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

# model label -> actions, per role. New domains add their models here.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.COMPANY_ADMIN: {
        "estate.community": (VIEW, ADD, CHANGE),
        "estate.building": ALL,
        "estate.unit": ALL,
        "estate.parkingspace": ALL,
        "estate.person": ALL,
        "estate.occupancy": ALL,
        "staff.staffmember": ALL,
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
    },
    Role.MANAGER: {
        "estate.community": (VIEW, CHANGE),
        "estate.building": ALL,
        "estate.unit": ALL,
        "estate.parkingspace": ALL,
        "estate.person": ALL,
        "estate.occupancy": ALL,
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
    },
    Role.CASHIER: {
        "estate.community": (VIEW,),
        "estate.building": (VIEW,),
        "estate.unit": (VIEW,),
        "estate.parkingspace": (VIEW,),
        "estate.person": (VIEW,),
        "estate.occupancy": (VIEW,),
    },
    Role.FINANCE: {
        "estate.community": (VIEW,),
        "estate.building": (VIEW,),
        "estate.unit": (VIEW,),
        "estate.parkingspace": (VIEW,),
        "estate.person": (VIEW,),
        "estate.occupancy": (VIEW,),
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
    },
    Role.SERVICE: {
        "estate.community": (VIEW,),
        "estate.building": (VIEW,),
        "estate.unit": (VIEW,),
        "estate.parkingspace": (VIEW,),
        "estate.person": (VIEW, ADD, CHANGE),
        "estate.occupancy": (VIEW, ADD, CHANGE),
    },
}

# Custom permissions that are not model CRUD.
ROLE_EXTRA_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.COMPANY_ADMIN: ("estate.import_estate",),
    Role.MANAGER: ("estate.import_estate",),
}


def group_name(role: str) -> str:
    return f"role:{role}"


def sync_role_groups(**kwargs) -> None:
    """Make each role's group hold exactly the permissions listed above (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    wanted_by_role: dict[str, set[tuple[str, str]]] = {}
    for role, models in ROLE_PERMISSIONS.items():
        wanted = wanted_by_role.setdefault(role, set())
        for label, actions in models.items():
            app_label, model = label.split(".")
            wanted.update((app_label, f"{action}_{model}") for action in actions)
    for role, perms in ROLE_EXTRA_PERMISSIONS.items():
        wanted_by_role.setdefault(role, set()).update(tuple(p.split(".")) for p in perms)

    for role, wanted in wanted_by_role.items():
        group, _ = Group.objects.get_or_create(name=group_name(role))
        perms = [
            p
            for p in Permission.objects.select_related("content_type")
            if (p.content_type.app_label, p.codename) in wanted
        ]
        group.permissions.set(perms)
