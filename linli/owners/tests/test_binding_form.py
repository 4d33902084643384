"""The "find your home" form offers the community the owner arrived from (a poster's QR
code) or a search by name — never a list of every company's communities."""

from __future__ import annotations

import pytest
from django.urls import reverse

from linli import testing as t
from linli.owners.models import BindingRequest
from linli.owners.tests.helpers import sms_signin

pytestmark = pytest.mark.django_db
MOBILE = "13800138000"
HOMES = reverse("owners:bindings")


def page(client, **params) -> str:
    response = client.get(HOMES, params)
    assert response.status_code == 200
    return response.content.decode()


def test_no_list_of_communities_only_a_search(client, estate, outbox):
    sms_signin(client, MOBILE)
    html = page(client)
    assert 'id="community-search"' in html and 'name="community"' not in html
    for key in ("a1", "a2", "b1"):
        assert estate[key].name not in html


def test_search_needs_two_characters_and_shows_a_few(client, estate, outbox):
    sms_signin(client, MOBILE)
    company = t.make_company("丙物业")
    for _ in range(7):
        t.make_community(company, "翠湖")
    short = page(client, q="翠")
    assert 'id="search-short"' in short and estate["a1"].name not in short
    found = client.get(HOMES, {"q": "翠湖"}).context["found"]
    assert len(found) == 5 and all("翠湖" in c.name for c in found)
    other = page(client, q=estate["b1"].name)
    assert estate["b1"].name in other and estate["a1"].name not in other
    assert 'id="search-none"' in page(client, q="没有这个小区")


def test_a_search_result_is_chosen_and_the_request_names_it(client, estate, outbox):
    sms_signin(client, MOBILE)
    html = page(client, community=estate["a2"].pk)
    assert 'id="bind-community-name"' in html and estate["a2"].name in html
    assert f'name="community" value="{estate["a2"].pk}"' in html
    sent = client.post(HOMES, {"community": estate["a2"].pk, "building": "9栋",
                               "room": "909", "name": "李四", "role": "owner"})
    assert sent.status_code == 302
    assert BindingRequest.objects.get().community == estate["a2"]


def test_the_poster_community_is_remembered_through_sign_in(client, estate, outbox):
    poster = reverse("portal:home") + f"?c={estate['b1'].pk}"
    assert client.get(poster)["Location"].startswith(reverse("owners:signin"))
    client.get(reverse("owners:signin"), {"next": poster})
    signed_in = sms_signin(client, MOBILE, next_url=poster)
    assert signed_in["Location"] == poster
    html = page(client)
    assert estate["b1"].name in html and 'id="bind-community-name"' in html
    # "Not this community?" goes back to searching
    assert 'id="community-search"' in page(client, pick=1)
    # an unknown id is not remembered
    page(client, community=999999)
    assert estate["b1"].name in page(client)
