"""Personal data on the people pages: masked in lists and exports, never sent back."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from linli import testing as t
from linli.console.tests.forms import page_form_data
from linli.core.validators import mask_id_number, mask_mobile
from linli.estate.models import Person
from linli.staff.models import Role

LIST = reverse("admin:estate_person_changelist")


def change_url(person: Person) -> str:
    return reverse("admin:estate_person_change", args=[person.pk])


@pytest.fixture
def manager(client, estate):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    client.force_login(user)
    return user


def test_masks_are_the_documented_shapes():
    assert mask_id_number("110101199003071234") == "110***********1234"
    assert mask_mobile("13812345678") == "138****5678"


def test_list_shows_id_number_and_mobile_masked(client, estate, manager):
    person = t.make_person(estate["a1"], name="孙八", mobile="13812345678")
    html = client.get(LIST).content.decode()
    assert "138****5678" in html
    assert person.id_number_masked in html
    assert person.id_number not in html
    assert "13812345678" not in html


def test_change_page_never_contains_the_stored_id_number(client, estate, manager):
    person = estate["a1_person"]
    response = client.get(change_url(person))
    html = response.content.decode()
    assert response.status_code == 200
    assert person.id_number not in html
    assert person.id_number[-8:] not in html  # not even most of it
    assert person.id_number_masked in html  # shown as help instead


@pytest.mark.parametrize("role", [Role.CASHIER, Role.FINANCE])
def test_a_view_only_page_shows_the_id_number_masked(client, estate, role):
    """Cashiers and finance may look a person up but not edit them: the page they get shows
    every field read-only, and the ID number there is the masked one."""
    client.force_login(t.make_staff(estate["company_a"], role, [estate["a1"]]))
    person = estate["a1_person"]
    response = client.get(change_url(person))
    html = response.content.decode()
    assert response.status_code == 200 and person.name in html
    assert 'name="name"' not in html  # view-only
    assert person.id_number not in html and person.id_number[-8:] not in html
    assert person.id_number_masked in html


def test_change_page_with_errors_does_not_echo_the_stored_id_number(client, estate, manager):
    person = estate["a1_person"]
    data = page_form_data(client.get(change_url(person)))
    data["mobile"] = "not a phone"
    response = client.post(change_url(person), data)
    assert response.status_code == 200  # the form comes back with the error
    assert person.id_number not in response.content.decode()


def test_leaving_the_id_number_empty_keeps_it_and_a_new_one_replaces_it(client, estate, manager):
    person = estate["a1_person"]
    stored = person.id_number
    data = page_form_data(client.get(change_url(person)))
    data["note"] = "搬入"
    assert client.post(change_url(person), data).status_code == 302
    person.refresh_from_db()
    assert (person.id_number, person.note) == (stored, "搬入")

    new = t.make_id_number()
    data["id_number"] = new
    assert client.post(change_url(person), data).status_code == 302
    person.refresh_from_db()
    assert person.id_number == new


def test_an_invalid_id_number_is_refused(client, estate, manager):
    person = estate["a1_person"]
    data = page_form_data(client.get(change_url(person)))
    data["id_number"] = "110101199003071235"  # wrong check character
    response = client.post(change_url(person), data)
    assert response.status_code == 200
    assert "id_number" in response.context["adminform"].form.errors


def test_search_by_full_id_number_finds_the_person_in_scope_only(client, estate, manager):
    mine, theirs = estate["a1_person"], estate["b1_person"]
    found = client.get(LIST, {"q": mine.id_number.lower()}).context["cl"].result_list
    assert [p.pk for p in found] == [mine.pk]
    assert list(client.get(LIST, {"q": theirs.id_number}).context["cl"].result_list) == []


def test_export_masks_personal_data(client, estate, manager):
    person = t.make_person(estate["a1"], name="周九", mobile="13912345678")
    response = client.post(
        LIST, {"action": "export_xlsx", "_selected_action": [person.pk], "index": "0"}
    )
    cells = [
        str(v) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(
            values_only=True
        ) for v in row
    ]
    assert "139****5678" in cells
    assert person.id_number_masked in cells
    assert person.id_number not in " ".join(cells)


def test_export_writes_text_that_looks_like_a_formula_as_text(client, estate, manager):
    t.make_person(estate["a1"], name='=HYPERLINK("http://x","y")')
    response = client.post(
        LIST,
        {
            "action": "export_xlsx", "index": "0",
            "_selected_action": list(Person.objects.values_list("pk", flat=True)),
        },
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if str(cell.value).startswith("=")]
    assert cells and all(cell.data_type == "s" for cell in cells)
