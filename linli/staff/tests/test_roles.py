"""Role groups hold exactly the permissions roles.py lists, for every app."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from linli.staff.roles import (
    ROLE_EXTRA_PERMISSIONS,
    ROLE_PERMISSIONS,
    group_name,
    sync_role_groups,
)


def wanted(role: str) -> set[str]:
    perms = {
        f"{label.split('.')[0]}.{action}_{label.split('.')[1]}"
        for label, actions in ROLE_PERMISSIONS[role].items()
        for action in actions
    }
    return perms | set(ROLE_EXTRA_PERMISSIONS.get(role, ()))


def held(role: str) -> set[str]:
    group = Group.objects.get(name=group_name(role))
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_every_listed_permission_exists(db):
    existing = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }
    for role in ROLE_PERMISSIONS:
        assert wanted(role) - existing == set(), role


def test_groups_hold_exactly_the_listed_permissions_after_migrate(db):
    # Includes apps installed after ``staff`` (the ledger): their permissions are
    # created before the groups are filled, not after.
    for role in ROLE_PERMISSIONS:
        assert held(role) == wanted(role), role


def test_sync_is_idempotent_and_repairs_drift(db):
    group = Group.objects.get(name=group_name("cashier"))
    group.permissions.add(Permission.objects.get(codename="delete_unit"))
    sync_role_groups()
    sync_role_groups()
    for role in ROLE_PERMISSIONS:
        assert held(role) == wanted(role), role
