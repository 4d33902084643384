"""The console shell: Chinese by default, a sidebar per role, every page in it opens."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from linli import testing as t
from linli.console import navigation
from linli.staff.models import Role
from linli.staff.roles import ROLE_EXTRA_PERMISSIONS, ROLE_PERMISSIONS

ROLES = list(Role.values)


def login(client, estate, role: str) -> User:
    if role == Role.COMPANY_ADMIN:
        user = t.make_staff(estate["company_a"], role)
    else:
        user = t.make_staff(estate["company_a"], role, [estate["a1"]])
    client.force_login(user)
    return user


def sidebar_links(response) -> list[str]:
    return [item["link"] for group in response.context["sidebar_navigation"] for item in group["items"]]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_can_use_the_console(client, estate, role):
    login(client, estate, role)
    home = client.get(reverse("admin:index"))
    assert home.status_code == 200
    assert 'lang="zh-hans"' in home.content.decode()
    links = sidebar_links(home)
    assert links, "every role has something to work on"
    for link in links:
        assert client.get(link).status_code == 200, link


@pytest.mark.parametrize("role", ROLES)
def test_sidebar_shows_exactly_the_pages_the_role_may_open(client, estate, role):
    login(client, estate, role)
    links = set(sidebar_links(client.get(reverse("admin:index"))))
    granted = {
        label for label, actions in ROLE_PERMISSIONS[role].items() if "view" in actions
    }
    for label, url_name in [
        ("staff.staffmember", "admin:staff_staffmember_changelist"),
        ("core.auditevent", "admin:core_auditevent_changelist"),
        ("ledger.journalentry", "admin:ledger_journalentry_changelist"),
        ("estate.unit", "admin:estate_unit_changelist"),
    ]:
        assert (reverse(url_name) in links) is (label in granted), (role, label)
    may_import = "estate.import_estate" in ROLE_EXTRA_PERMISSIONS.get(role, ())
    assert (reverse("console:estate-import") in links) is may_import


def test_navigation_leaves_out_pages_that_do_not_exist_yet(estate, monkeypatch):
    request = RequestFactory().get("/console/")
    request.user = User.objects.create_superuser("root", "", t.PASSWORD)
    monkeypatch.setattr(
        navigation,
        "GROUPS",
        [
            ("Later", [("Nothing yet", "block", "admin:nowhere_changelist", "estate.view_unit")]),
            *navigation.GROUPS,
        ],
    )
    groups = navigation.navigation(request)
    assert "Later" not in [g["title"] for g in groups]
    assert reverse("admin:estate_unit_changelist") in [
        item["link"] for g in groups for item in g["items"]
    ]


def test_every_navigation_group_of_the_plan_is_declared():
    with translation.override("en"):
        titles = [str(title) for title, _items in navigation.GROUPS]
    assert titles == ["Estate", "Billing", "Payments", "Refunds", "Messages", "Reports", "System"]


def test_signing_in_on_the_login_page_itself_opens_the_console(client, estate):
    """A bookmarked login page carries no ``next``: the console opens, not a missing page."""
    user = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]])
    user.set_password("a-good-passphrase-2026")
    user.save()
    response = client.post(reverse("admin:login"),
                           {"username": user.username, "password": "a-good-passphrase-2026"})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(response["Location"]).status_code == 200
