"""Console pages given ids that are no ids (found by the fuzz test, linli/core/tests/fuzz):
a clear refusal, never a server error."""

from __future__ import annotations

import pytest

from linli import testing as t
from linli.estate.models import Unit
from linli.staff.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, estate):
    client.force_login(t.make_staff(estate["company_a"], Role.COMPANY_ADMIN))
    return client


@pytest.mark.parametrize("value", ["1.5", "abc", "99999999999999999999", "1,x"])
def test_an_add_page_prefilled_with_a_bad_id_opens_without_it(admin_client, estate, value):
    response = admin_client.get(f"/console/estate/unit/add/?building={value}&room_no=101")
    assert response.status_code == 200
    assert "增加 房屋" in response.content.decode() or "房屋" in response.content.decode()
    form = response.context["adminform"].form
    assert "building" not in form.initial
    assert form.initial["room_no"] == "101"  # the other prefilled values stay


def test_an_empty_to_field_opens_the_change_page(admin_client, estate):
    unit = estate["a1_unit"]
    response = admin_client.get(f"/console/estate/unit/{unit.pk}/change/?_to_field=")
    assert response.status_code == 200
    assert unit.room_no in response.content.decode()


@pytest.mark.parametrize("path", [
    "/console/payments/paymentanomaly/{}/keep/",
    "/console/payments/orderrefund/{}/settle-counter/",
    "/console/refunds/refundapplication/{}/approve/",
    "/console/refunds/duplicaterefund/{}/recover/",
    "/console/billing/billrun/{}/reverse-run/",
])
@pytest.mark.parametrize("bad_id", ["abc", "1.5", "99999999999999999999"])
def test_a_dialog_for_no_id_is_refused(admin_client, estate, path, bad_id):
    before = Unit.objects.count()
    for method in (admin_client.get, admin_client.post):
        response = method(path.format(bad_id))
        assert response.status_code in (403, 404), (method, response.status_code)
    assert Unit.objects.count() == before


@pytest.mark.parametrize("value", ["xxxx", "1.5", "99999999999999999999"])
def test_a_form_sent_back_with_a_bad_id_shows_the_error(admin_client, estate, value):
    occupancy = estate["a1_occupancy"]
    response = admin_client.post(f"/console/estate/occupancy/{occupancy.pk}/change/",
                                 {"unit": value, "person": occupancy.person_id, "role": "owner",
                                  "start_date": "2024-01-01"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["unit"]
    occupancy.refresh_from_db()
    assert occupancy.unit_id == estate["a1_unit"].pk
