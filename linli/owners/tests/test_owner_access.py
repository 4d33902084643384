"""``owner_access`` answers "is this an owner, and which units may they see" in one query
for the portal's pages; it must agree with ``is_owner`` and ``owner_unit_ids`` in every
case a page could meet."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from linli import testing as t
from linli.estate.models import Occupancy
from linli.owners.selectors import is_owner, owner_access, owner_unit_ids
from linli.staff.models import Role

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    """A new object, as the next request loads it (``owner_access`` caches on it)."""
    return User.objects.get(pk=user.pk)


def occupy(unit, person, *, start: dt.date, end: dt.date | None = None) -> Occupancy:
    return Occupancy.objects.create(unit=unit, person=person, role=Occupancy.Role.TENANT,
                                    start_date=start, end_date=end)


@pytest.fixture
def estate():
    company = t.make_company()
    return company, t.make_community(company)


def test_units_are_the_current_occupancies_of_the_owners_mobile(estate):
    _company, community = estate
    today = timezone.localdate()
    person = t.make_person(community)
    user = t.make_owner(person.mobile)
    current, ends_today, ended, future, open_ended = (t.make_unit(community) for _ in range(5))
    occupy(current, person, start=today - dt.timedelta(days=30), end=today + dt.timedelta(days=1))
    occupy(ends_today, person, start=today - dt.timedelta(days=30), end=today)
    occupy(ended, person, start=today - dt.timedelta(days=30), end=today - dt.timedelta(days=1))
    occupy(future, person, start=today + dt.timedelta(days=1))
    occupy(open_ended, person, start=today)
    somebody_else = t.make_person(community)
    occupy(t.make_unit(community), somebody_else, start=today - dt.timedelta(days=1))

    expected = {current.pk, ends_today.pk, open_ended.pk}
    assert owner_access(fresh(user)) == frozenset(expected)
    assert owner_unit_ids(fresh(user)) == expected
    assert is_owner(fresh(user))


def test_an_owner_without_a_home_yet_is_an_owner_with_no_units(estate):
    user = t.make_owner("13900000001")
    assert owner_access(fresh(user)) == frozenset() == frozenset(owner_unit_ids(fresh(user)))
    assert is_owner(fresh(user))


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser", "not_active"])
def test_accounts_that_are_not_owners_get_none(estate, flag):
    _company, community = estate
    person = t.make_person(community)
    t.make_occupancy(t.make_unit(community), person)
    user = t.make_owner(person.mobile)
    if flag == "not_active":
        user.is_active = False
    else:
        setattr(user, flag, True)
    user.save()
    assert owner_access(fresh(user)) is None
    assert not is_owner(fresh(user))


def test_a_staff_member_with_a_home_is_not_an_owner(estate):
    company, community = estate
    person = t.make_person(community)
    t.make_occupancy(t.make_unit(community), person)
    staff = t.make_staff(company, Role.CASHIER, communities=[community], username=person.mobile)
    staff.is_staff = False  # a staff row alone makes the account no owner
    staff.save()
    assert owner_access(fresh(staff)) is None
    assert not is_owner(fresh(staff))
    assert owner_unit_ids(fresh(staff)) == set()


def test_the_answer_is_kept_for_the_request_and_read_by_is_owner(estate, django_assert_num_queries):
    _company, community = estate
    person = t.make_person(community)
    unit = t.make_unit(community)
    t.make_occupancy(unit, person)
    user = fresh(t.make_owner(person.mobile))
    with django_assert_num_queries(1):
        assert owner_access(user) == {unit.pk}
        assert owner_access(user) == {unit.pk}
        assert is_owner(user)
