"""Test helpers: build an estate and staff through the real services and models."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.contrib.auth.models import User

from linli.core.validators import id_number_check_char
from linli.estate.models import Building, Community, Company, Occupancy, ParkingSpace, Person, Unit
from linli.staff.models import Role
from linli.staff.services import staff_member_create

_seq = itertools.count(1)
PASSWORD = "Linli-test-2026"


def make_id_number(birth: str = "19900307", seq: int | None = None) -> str:
    """A well-formed resident ID number (GB 11643 check character)."""
    seq = next(_seq) if seq is None else seq
    first17 = f"110101{birth}{seq % 1000:03d}"
    return first17 + id_number_check_char(first17)


def make_company(name: str = "测试物业") -> Company:
    return Company.objects.create(name=f"{name}{next(_seq)}")


def make_community(company: Company, name: str = "测试小区") -> Community:
    n = next(_seq)
    return Community.objects.create(company=company, name=f"{name}{n}", code=f"c{n}")


def make_unit(community: Community, *, building: str = "1栋", room: str | None = None,
              area: str = "88.50", entrance: str = "1单元", floor: int = 1) -> Unit:
    b, _ = Building.objects.get_or_create(community=community, name=building)
    return Unit.objects.create(
        community=community,
        building=b,
        entrance=entrance,
        floor=floor,
        room_no=room or f"{floor}{next(_seq):02d}",
        building_area=Decimal(area),
        usable_area=Decimal(area) * Decimal("0.8"),
    )


def make_person(community: Community, *, name: str = "张三", mobile: str | None = None) -> Person:
    person = Person(
        community=community,
        name=name,
        mobile=mobile or f"139{next(_seq):08d}",
        id_number=make_id_number(),
    )
    person.normalise()
    person.full_clean()
    person.save()
    return person


def make_occupancy(unit: Unit, person: Person, role: str = Occupancy.Role.OWNER) -> Occupancy:
    return Occupancy.objects.create(
        unit=unit, person=person, role=role, start_date="2024-01-01", is_payer=True
    )


def make_parking(community: Community, unit: Unit | None = None) -> ParkingSpace:
    return ParkingSpace.objects.create(community=community, code=f"B1-{next(_seq):03d}", unit=unit)


def make_staff(company: Company, role: str, communities=(), username: str | None = None) -> User:
    member = staff_member_create(
        acting_user=None,
        company=company,
        username=username or f"{role}{next(_seq)}",
        password=PASSWORD,
        display_name=f"{Role(role).label}",
        role=role,
        communities=communities,
    )
    return member.user


def make_owner(mobile: str, *, password: str | None = None) -> User:
    """An owner account for ``mobile``, as a first SMS sign-in makes it (the username is
    a random id; the number is kept encrypted on the account)."""
    from linli.owners.services import owner_account_create

    return owner_account_create(mobile=mobile, password=password)


def owner_user(mobile: str) -> User:
    """The owner account of ``mobile``."""
    from linli.core.crypto import mobile_index

    return User.objects.get(owner_account__mobile_index=mobile_index(mobile))
