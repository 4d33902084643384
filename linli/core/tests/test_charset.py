"""A console or portal form declared in a charset other than UTF-8 (found by the fuzz
test, linli/core/tests/fuzz): a clear 400, nothing changes, never a 500."""

from __future__ import annotations

import pytest

from linli import testing as t
from linli.estate.models import Person
from linli.staff.models import Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_form_in_gbk_is_refused_in_words(client, estate, method):
    client.force_login(t.make_staff(estate["company_a"], Role.COMPANY_ADMIN))
    client.cookies["django_language"] = "en"
    before = Person.objects.count()
    response = getattr(client, method)(
        "/console/estate/person/add/?a=%FF", data=b"name=%FF%FE&mobile=%E6W",
        content_type="application/x-www-form-urlencoded; charset=gbk")
    assert response.status_code == 400
    assert "The request must be sent in UTF-8." in response.content.decode()
    assert Person.objects.count() == before


def test_utf8_under_another_name_is_still_utf8(client, estate):
    client.force_login(t.make_staff(estate["company_a"], Role.COMPANY_ADMIN))
    response = client.generic("GET", "/console/estate/person/add/?name=%E5%BC%A0", b"",
                              content_type="text/plain; charset=UTF8")
    assert response.status_code == 200
