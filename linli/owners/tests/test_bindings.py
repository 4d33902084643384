"""Finding your home (绑定房屋): a phone on an occupancy sees its units at once; anyone
else asks, and sees the unit only after staff of its community approve."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from linli import testing as t
from linli.core.crypto import mobile_index
from linli.core.models import AuditEvent
from linli.estate.models import Occupancy, Person
from linli.owners.bindings import binding_request_approve, binding_request_create, matching_units
from linli.owners.models import BindingRequest
from linli.owners.selectors import owner_payer_unit_ids, owner_unit_ids
from linli.owners.tests.helpers import grant, sms_signin
from linli.payments.orders import payer_unit_ids
from linli.staff.models import Role

pytestmark = pytest.mark.django_db
MOBILE = "13800138000"
HOMES = reverse("owners:bindings")
CONSOLE = "/console/owners/bindingrequest"


def owner_client(client, outbox):
    sms_signin(client, MOBILE)
    return t.owner_user(MOBILE)


def ask(client, estate, unit, role="owner"):
    return client.post(HOMES, {"community": estate["a1"].pk, "building": unit.building.name,
                               "room": unit.room_no, "name": "李四", "role": role})


def decider(estate, community_key="a1"):
    company = estate["company_a"] if community_key != "b1" else estate["company_b"]
    staff = t.make_staff(company, Role.SERVICE, [estate[community_key]])
    return grant(staff, "view_bindingrequest", "change_bindingrequest")


def test_a_phone_on_an_occupancy_sees_its_units_at_once(client, estate, outbox):
    person = estate["a1_person"]
    sms_signin(client, person.mobile)
    user = t.owner_user(person.mobile)
    assert owner_unit_ids(user) == {estate["a1_unit"].pk}
    assert payer_unit_ids(user) == owner_payer_unit_ids(user) == {estate["a1_unit"].pk}
    assert str(estate["a1_unit"]) in client.get(HOMES).content.decode()


def test_family_members_see_but_do_not_pay(estate):
    family = t.make_person(estate["a1"], name="小王")
    Occupancy.objects.create(unit=estate["a1_unit"], person=family, role="family",
                             start_date="2024-01-01", is_payer=False)
    user = t.make_owner(family.mobile)
    assert owner_unit_ids(user) == {estate["a1_unit"].pk}
    assert payer_unit_ids(user) == set()
    # Staff never count as owners, even with a matching username.
    staff = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]],
                         username=estate["a1_person"].mobile)
    assert owner_unit_ids(staff) == set()


def test_an_owner_whose_tenant_pays_may_still_pay(estate):
    landlord = t.make_person(estate["a1"], name="房东")
    Occupancy.objects.create(unit=estate["a1_unit"], person=landlord, role="owner",
                             start_date="2024-01-01", is_payer=False)
    user = t.make_owner(landlord.mobile)
    assert payer_unit_ids(user) == {estate["a1_unit"].pk}


def test_a_request_shows_nothing_until_staff_approve_it(client, estate, outbox):
    user = owner_client(client, outbox)
    unit = t.make_unit(estate["a1"], building="9栋", room="1801")
    response = ask(client, estate, unit)
    assert response.status_code == 302
    request = BindingRequest.objects.get()
    assert (request.status, request.unit, request.mobile) == ("pending", unit, MOBILE)
    assert owner_unit_ids(user) == set()
    page = client.get(HOMES).content.decode()
    assert "待审核" in page
    assert client.get(reverse("portal:bills")).status_code == 200
    assert "1801" not in client.get(reverse("portal:home")).content.decode()

    staff = decider(estate)
    client.force_login(staff)
    response = client.post(f"{CONSOLE}/{request.pk}/approve/",
                           {"unit": unit.pk, "is_payer": "on", "_form_submitted": "on"})
    assert response.status_code == 302, response.content
    request.refresh_from_db()
    assert request.status == "approved" and request.decided_by == staff
    assert owner_unit_ids(user) == {unit.pk} and payer_unit_ids(user) == {unit.pk}
    person = Person.objects.get(community=estate["a1"], mobile_index=mobile_index(MOBILE))
    assert person.name == "李四"
    assert request.occupancy.person == person and request.occupancy.role == "owner"
    audited = set(AuditEvent.objects.filter(actor=staff).values_list("object_repr", flat=True))
    assert str(request) in audited and str(request.occupancy) in audited


def test_rejecting_needs_a_reason_which_the_owner_sees(client, estate, outbox):
    user = owner_client(client, outbox)
    ask(client, estate, estate["a1_unit"])
    request = BindingRequest.objects.get()
    owner = client
    staff_client = type(client)()
    staff_client.force_login(decider(estate))
    url = f"{CONSOLE}/{request.pk}/reject/"
    response = staff_client.post(url, {"reason": "", "_form_submitted": "on"})
    assert response.status_code == 200 and response.context["form"].errors
    response = staff_client.post(url, {"reason": "房号不符，请到物业中心核实",
                                       "_form_submitted": "on"})
    assert response.status_code == 302
    page = owner.get(HOMES).content.decode()
    assert "已驳回" in page and "房号不符" in page
    assert owner_unit_ids(user) == set()


def test_staff_of_another_community_can_neither_see_nor_decide(client, estate, outbox):
    user = owner_client(client, outbox)
    ask(client, estate, estate["a1_unit"])
    request = BindingRequest.objects.get()
    for key in ("a2", "b1"):
        outsider = decider(estate, key)
        client.force_login(outsider)
        listing = client.get(f"{CONSOLE}/")
        assert listing.status_code == 200
        assert list(listing.context["cl"].result_list) == []
        assert client.get(f"{CONSOLE}/{request.pk}/change/").status_code == 404
        response = client.post(f"{CONSOLE}/{request.pk}/approve/",
                               {"unit": estate["a1_unit"].pk, "_form_submitted": "on"})
        assert response.status_code == 404
        with pytest.raises(PermissionDenied):
            binding_request_approve(acting_user=outsider, binding=request,
                                    unit=estate["a1_unit"])
    request.refresh_from_db()
    assert request.status == "pending" and owner_unit_ids(user) == set()


def test_bad_requests_are_refused_and_change_nothing(client, estate, outbox):
    owner_client(client, outbox)
    empty = client.post(HOMES, {"community": estate["a1"].pk, "building": "", "room": "",
                                "name": "", "role": "owner"})
    assert empty.status_code == 200 and "此项必填" in empty.content.decode()
    nowhere = client.post(HOMES, {"community": "999999", "building": "1栋", "room": "101",
                                  "name": "李四", "role": "owner"})
    assert "请选择小区" in nowhere.content.decode()
    ask(client, estate, estate["a1_unit"])
    again = ask(client, estate, estate["a1_unit"])
    assert again.status_code == 200 and "正在等待审核" in again.content.decode()
    assert BindingRequest.objects.count() == 1


def test_pages_need_an_owner(client, estate):
    for url in (HOMES, reverse("owners:profile")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("owners:signin") + "?next=")


def test_the_typed_address_finds_the_unit_when_it_is_unambiguous(estate):
    community = estate["a1"]
    first = t.make_unit(community, building="7栋", entrance="1单元", room="1801")
    second = t.make_unit(community, building="7栋", entrance="2单元", room="1801")

    def found(building, room):
        return set(matching_units(community=community, building=building, room=room))

    assert found("7栋", "1801") == {first, second}  # staff choose
    assert found("7", "2单元1801") == {second}
    assert found("7栋1单元", "1801") == {first}
    assert found("8栋", "1801") == set()
    owner = t.make_owner(MOBILE)
    request = binding_request_create(user=owner, community=community, building="7",
                                     room="2单元 1801", name="李四", role="tenant")
    assert request.unit == second
