"""Mobile numbers in the console (PIPL): masked on every page, in searches' results and
in the audit log; the full number only for roles that call owners, each view audited."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from linli import testing as t
from linli.console.tests.forms import page_form_data
from linli.core.models import AuditEvent
from linli.estate.models import Person
from linli.staff.models import Role

MOBILE = "13812345678"
LIST = reverse("admin:estate_person_changelist")


def change_url(person):
    return reverse("admin:estate_person_change", args=[person.pk])


def mobile_url(person):
    return reverse("admin:estate_person_mobile", args=[person.pk])


@pytest.fixture
def person(estate):
    return t.make_person(estate["a1"], name="孙八", mobile=MOBILE)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SERVICE, Role.CASHIER, Role.FINANCE])
def test_the_person_page_shows_the_number_masked_to_every_role(client, estate, person, role):
    client.force_login(t.make_staff(estate["company_a"], role, [estate["a1"]]))
    html = client.get(change_url(person)).content.decode()
    assert person.name in html and "138****5678" in html
    assert MOBILE not in html


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SERVICE])
def test_roles_that_call_owners_open_the_full_number_and_the_log_records_it(
        client, estate, person, role):
    staff = t.make_staff(estate["company_a"], role, [estate["a1"]])
    client.force_login(staff)
    assert mobile_url(person) in client.get(change_url(person)).content.decode()
    assert not AuditEvent.objects.filter(summary="Viewed full mobile number").exists()
    page = client.get(mobile_url(person))
    assert page.status_code == 200 and MOBILE in page.content.decode()
    assert "审计日志" in page.content.decode()
    seen = AuditEvent.objects.get(summary="Viewed full mobile number")
    assert (seen.actor, seen.object_id) == (staff, str(person.pk))
    assert MOBILE not in json.dumps(seen.changes) + seen.object_repr


@pytest.mark.parametrize("role", [Role.CASHIER, Role.FINANCE])
def test_other_roles_get_no_link_and_are_refused(client, estate, person, role):
    client.force_login(t.make_staff(estate["company_a"], role, [estate["a1"]]))
    assert mobile_url(person) not in client.get(change_url(person)).content.decode()
    response = client.get(mobile_url(person))
    assert response.status_code == 403 and MOBILE not in response.content.decode()
    assert not AuditEvent.objects.filter(summary="Viewed full mobile number").exists()


def test_the_full_number_of_another_community_is_not_found(client, estate):
    theirs = t.make_person(estate["b1"], mobile=MOBILE)
    client.force_login(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    response = client.get(mobile_url(theirs))
    assert response.status_code == 404 and MOBILE not in response.content.decode()
    assert not AuditEvent.objects.filter(summary="Viewed full mobile number").exists()


def test_search_by_whole_number_finds_the_person_and_their_unit(client, estate, person):
    t.make_occupancy(estate["a1_unit"], person)
    client.force_login(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    found = client.get(LIST, {"q": "138 1234 5678"}).context["cl"].result_list
    assert [p.pk for p in found] == [person.pk]
    units = client.get(reverse("admin:estate_unit_changelist"), {"q": MOBILE})
    assert [u.pk for u in units.context["cl"].result_list] == [estate["a1_unit"].pk]
    assert list(client.get(LIST, {"q": "13812345679"}).context["cl"].result_list) == []


def test_editing_keeps_the_number_unless_a_new_one_is_typed_and_the_log_masks_it(
        client, estate, person):
    client.force_login(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    data = page_form_data(client.get(change_url(person)))
    assert data["mobile"] == ""  # never sent to the browser
    data["note"] = "搬入"
    assert client.post(change_url(person), data).status_code == 302
    person.refresh_from_db()
    assert (person.mobile, person.note) == (MOBILE, "搬入")
    data["mobile"] = "139 0000 1111"
    assert client.post(change_url(person), data).status_code == 302
    person = Person.objects.get(pk=person.pk)
    assert person.mobile == "13900001111"
    change = AuditEvent.objects.filter(object_id=str(person.pk),
                                       action=AuditEvent.Action.CHANGE).order_by("pk").last()
    assert change.changes["mobile"] == ["138****5678", "139****1111"]
