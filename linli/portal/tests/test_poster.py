"""The community poster (扫码缴费): a PDF for staff of that community only, whose code
and printed address open the portal for the community."""

from __future__ import annotations

import io

from django.urls import reverse
from pypdf import PdfReader

from linli import testing as t
from linli.portal.tests.conftest import signed_in
from linli.staff.models import Role


def test_poster_for_staff_of_the_community(estate):
    community = estate["a1"]
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [community])
    url = reverse("portal_console:poster", args=[community.pk])
    response = signed_in(manager).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert community.name in text and estate["company_a"].name in text
    assert f"http://testserver/m/?c={community.pk}" in text.replace("\n", "")
    assert "扫码缴费" in text


def test_poster_of_another_community_is_404(estate):
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    for other in (estate["a2"], estate["b1"]):
        url = reverse("portal_console:poster", args=[other.pk])
        assert signed_in(manager).get(url).status_code == 404


def test_owners_do_not_get_posters(world):
    url = reverse("portal_console:poster", args=[world.community.pk])
    response = world.a.client.get(url)
    assert response.status_code == 302 and "/console/login/" in response["Location"]
