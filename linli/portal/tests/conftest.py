"""Two owners of one community, each with issued bills, and a sandbox merchant account."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from linli import testing as t
from linli.billing.models import Bill
from linli.estate.models import Community, Unit
from linli.payments.models import MerchantAccount
from linli.payments.tests.helpers import billed_unit, sandbox_account


@dataclass
class Owner:
    user: User
    unit: Unit
    bills: list[Bill]
    client: Client


@dataclass
class World:
    community: Community
    account: MerchantAccount
    a: Owner
    b: Owner


def make_owner(community, room: str, *, name: str = "业主") -> tuple[User, Unit, list[Bill]]:
    unit, bills = billed_unit(community, room=room, periods=("2024-01", "2024-02"))
    person = t.make_person(community, name=name)
    t.make_occupancy(unit, person)
    user = t.make_owner(person.mobile)
    return user, unit, bills


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(estate) -> World:
    community = estate["a1"]
    account = sandbox_account(community)
    owners = []
    for room, name in (("801", "甲业主"), ("802", "乙业主")):
        user, unit, _ = make_owner(community, room, name=name)
        owners.append((user, unit))
    # Bills of both owners exist only after both units do (one run per period).
    result = []
    for user, unit in owners:
        bills = list(Bill.objects.filter(unit=unit).order_by("period_start"))
        result.append(Owner(user=user, unit=unit, bills=bills, client=signed_in(user)))
    return World(community=community, account=account, a=result[0], b=result[1])
