"""Which communities each kind of login works in."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from linli import testing as t
from linli.estate.models import Unit
from linli.staff.models import Role
from linli.staff.scope import communities_for, community_ids_for, scope_queryset


def ids(user) -> set[int]:
    return set(communities_for(user).values_list("pk", flat=True))


def test_company_admin_works_in_every_community_of_their_company_only(estate):
    user = t.make_staff(estate["company_a"], Role.COMPANY_ADMIN)
    assert ids(user) == {estate["a1"].pk, estate["a2"].pk}
    later = t.make_community(estate["company_a"])
    assert later.pk in ids(user)  # new communities are included without reassignment


def test_other_roles_work_in_their_assigned_communities(estate):
    for role in (Role.MANAGER, Role.CASHIER, Role.FINANCE, Role.SERVICE):
        user = t.make_staff(estate["company_a"], role, [estate["a1"], estate["a2"]])
        assert ids(user) == {estate["a1"].pk, estate["a2"].pk}, role


def test_a_community_of_another_company_never_counts(estate):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    user.staff.communities.add(estate["b1"])  # bypassing the service's check
    assert ids(user) == {estate["a1"].pk}


def test_superuser_sees_all_and_strangers_see_nothing(estate):
    root = User.objects.create_superuser("root", "", t.PASSWORD)
    assert ids(root) == {estate["a1"].pk, estate["a2"].pk, estate["b1"].pk}
    plain = User.objects.create_user("plain", password=t.PASSWORD)
    assert ids(plain) == set()
    assert ids(AnonymousUser()) == set()
    assert community_ids_for(AnonymousUser()) == frozenset()


def test_inactive_logins_see_nothing(estate):
    user = t.make_staff(estate["company_a"], Role.COMPANY_ADMIN)
    user.is_active = False
    assert ids(user) == set()
    assert not scope_queryset(Unit.objects.all(), user, "community").exists()


def test_scope_queryset_follows_a_path(estate):
    user = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a2"]])
    from linli.estate.models import Occupancy

    occupancies = scope_queryset(Occupancy.objects.all(), user, "unit__community")
    assert list(occupancies) == [estate["a2_occupancy"]]
