"""Scope, proven for every console page, generated from the admin registry.

For each registered page and each role (and a platform superuser) there are objects in
community A1, A2 (same company) and B1 (another company). A company admin's scope is
A1 and A2; every other role works in A1 only. Out of scope means: not in the list, not
found by search, not offered by filters, autocompletes or form choices, not exported,
and 404 on every detail URL, exactly like an id that does not exist.
"""

from __future__ import annotations

import io
import itertools

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import RequestFactory
from django.urls import reverse
from openpyxl import load_workbook

from linli import testing as t
from linli.console.scoping import ScopedAdmin, audit_snapshot
from linli.console.tests.scope_factories import factory_for
from linli.core.models import AuditEvent
from linli.estate.models import Community
from linli.staff.models import Role
from linli.staff.roles import ADD, CHANGE, DELETE, ROLE_PERMISSIONS, VIEW

SUPERUSER = "superuser"
ROLES = [SUPERUSER, *Role.values]
KEYS = ("a1", "a2", "b1")
PAGES = sorted(
    (model._meta.label_lower, model)
    for model, model_admin in admin.site._registry.items()
    if isinstance(model_admin, ScopedAdmin)
)
CASES = [
    pytest.param(model, role, id=f"{label}-{role}") for label, model in PAGES for role in ROLES
]
_tokens = itertools.count(1)


def in_scope_keys(role: str) -> set[str]:
    if role == SUPERUSER:
        return set(KEYS)
    if role == Role.COMPANY_ADMIN:
        return {"a1", "a2"}
    return {"a1"}


def role_allows(role: str, model, action: str) -> bool:
    """What the role's permission group grants (roles.py), and what the page allows at
    all (read-only pages refuse add/change/delete even to a superuser)."""
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    page_allows = {
        VIEW: model_admin.has_view_or_change_permission(request),
        ADD: model_admin.has_add_permission(request),
        CHANGE: model_admin.has_change_permission(request),
        DELETE: model_admin.has_delete_permission(request),
    }[action]
    if role == SUPERUSER:
        return page_allows
    granted = ROLE_PERMISSIONS[role].get(model._meta.label_lower, ())
    if action == VIEW:
        return CHANGE in granted or VIEW in granted
    return page_allows and action in granted


class World:
    """The ``estate`` fixture plus, per test, one object of the page's model in each
    community, each findable by its own token."""

    def __init__(self, estate: dict, model) -> None:
        self.estate = estate
        self.model = model
        factory = factory_for(model)
        if factory is None:
            # One clear failure per page (test_every_console_page_has_a_scope_factory)
            # rather than dozens here.
            pytest.skip(f"no scope-test factory for {model._meta.label}")
        self.tokens = {key: f"QZ{next(_tokens):05d}" for key in KEYS}
        self.objects = {}
        for key in KEYS:
            made = factory(estate[key], self.tokens[key])
            if isinstance(made, tuple):  # (object, the text the page finds it by)
                made, self.tokens[key] = made
            self.objects[key] = made

    def out_of_scope(self, role: str) -> list[str]:
        return [key for key in KEYS if key not in in_scope_keys(role)]

    def leaked_names(self, role: str, html: str) -> list[str]:
        """Names of out-of-scope things that appear in ``html``."""
        names = []
        for key in self.out_of_scope(role):
            names += [
                self.tokens[key],
                self.estate[key].name,
                str(self.estate[f"{key}_building"]),
                str(self.estate[f"{key}_unit"]),
            ]
        lowered = html.lower()
        return [name for name in names if name.lower() in lowered]


def login(client, estate: dict, role: str) -> User:
    if role == SUPERUSER:
        user = User.objects.create_superuser("root", "root@example.com", t.PASSWORD)
    elif role == Role.COMPANY_ADMIN:
        user = t.make_staff(estate["company_a"], role)
    else:
        user = t.make_staff(estate["company_a"], role, [estate["a1"]])
    client.force_login(user)
    return user


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def community_of(obj: models.Model, path: str) -> int:
    value = obj
    for part in path.split("__"):
        value = getattr(value, part)
    return value.pk if isinstance(value, models.Model) else value


def allowed_community_ids(estate: dict, role: str) -> set[int]:
    if role == SUPERUSER:
        return set(Community.objects.values_list("pk", flat=True))
    if role == Role.COMPANY_ADMIN:
        return set(estate["company_a"].communities.values_list("pk", flat=True))
    return {estate["a1"].pk}


# --- the registry itself -------------------------------------------------------------


def test_every_console_page_is_scoped():
    unscoped = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, ScopedAdmin)
    ]
    assert unscoped == []


@pytest.mark.parametrize("label,model", PAGES, ids=[label for label, _ in PAGES])
def test_every_console_page_has_a_scope_factory(label, model):
    assert factory_for(model) is not None, (
        f"No scope-test factory for {label}: add one to "
        f"linli/{model._meta.app_label}/tests/scope_factories.py (see "
        "linli/console/tests/scope_factories.py); until then its scope tests are skipped"
    )


# --- lists ---------------------------------------------------------------------------


@pytest.mark.parametrize("model,role", CASES)
def test_changelist_shows_only_in_scope_rows_and_filter_choices(client, estate, model, role):
    world = World(estate, model)
    login(client, estate, role)
    response = client.get(url(model, "changelist"))
    if not role_allows(role, model, VIEW):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    for key in KEYS:
        expected = key in in_scope_keys(role)
        assert (world.objects[key].pk in shown) is expected, (key, role)
    assert world.leaked_names(role, response.content.decode()) == []

    model_admin = admin.site._registry[model]
    if type(model_admin).scope is ScopedAdmin.scope:  # the default rule: by community path
        allowed = allowed_community_ids(estate, role)
        rows = response.context["cl"].queryset
        assert {community_of(obj, model_admin.community_path) for obj in rows} <= allowed


@pytest.mark.parametrize("model,role", CASES)
def test_search_finds_in_scope_objects_only(client, estate, model, role):
    world = World(estate, model)
    login(client, estate, role)
    if not role_allows(role, model, VIEW):
        assert client.get(url(model, "changelist"), {"q": world.tokens["b1"]}).status_code == 403
        return
    for key in KEYS:
        response = client.get(url(model, "changelist"), {"q": world.tokens[key]})
        assert response.status_code == 200
        found = {obj.pk for obj in response.context["cl"].result_list}
        if key in in_scope_keys(role):
            assert world.objects[key].pk in found, (key, "search must find it")
        else:
            assert found == set(), (key, "out of scope, must find nothing")


# --- detail pages --------------------------------------------------------------------


@pytest.mark.parametrize("model,role", CASES)
def test_out_of_scope_ids_answer_404_and_change_nothing(client, estate, model, role):
    world = World(estate, model)
    user = login(client, estate, role)
    missing = model._default_manager.order_by("-pk").values_list("pk", flat=True).first() + 1000
    for pk in [world.objects[key].pk for key in world.out_of_scope(role)] + [missing]:
        for view in ("change", "delete", "history"):
            assert client.get(url(model, view, pk)).status_code == 404, (view, pk)
        obj = model._default_manager.filter(pk=pk).first()
        before = audit_snapshot(obj) if obj else None
        assert client.post(url(model, "change", pk), {"name": "hacked"}).status_code == 404
        assert client.post(url(model, "delete", pk), {"post": "yes"}).status_code == 404
        if obj is not None:
            assert audit_snapshot(model._default_manager.get(pk=pk)) == before
    assert not AuditEvent.objects.filter(actor=user).exists()


@pytest.mark.parametrize("model,role", CASES)
def test_in_scope_detail_pages_follow_the_role(client, estate, model, role):
    world = World(estate, model)
    login(client, estate, role)
    pk = world.objects["a1"].pk
    # Without the permission the answer is 403, or 404 where the page's scope is
    # narrower for such roles (the staff page shows them only their own record).
    refused = {403, 404}
    may_view = role_allows(role, model, VIEW)
    for view in ("change", "history"):
        status = client.get(url(model, view, pk)).status_code
        assert status == 200 if may_view else status in refused, view
    status = client.get(url(model, "delete", pk)).status_code
    if role_allows(role, model, DELETE):
        assert status == 200
    else:
        assert status == 403 if may_view else status in refused
    response = client.get(url(model, "add"))
    if role_allows(role, model, ADD):
        assert response.status_code == 200
        assert world.leaked_names(role, response.content.decode()) == []
    else:
        assert response.status_code == 403


# --- autocomplete and export ---------------------------------------------------------


def autocomplete_source(model) -> tuple[str, str, str] | None:
    """Some foreign key pointing at ``model``, which makes its autocomplete reachable."""
    for source in apps.get_models():
        for field in source._meta.get_fields():
            if field.concrete and field.is_relation and field.related_model is model:
                return source._meta.app_label, source._meta.model_name, field.name
    return None


AUTOCOMPLETE_CASES = [
    case for case in CASES if autocomplete_source(case.values[0]) is not None
    and admin.site._registry[case.values[0]].search_fields
]


@pytest.mark.parametrize("model,role", AUTOCOMPLETE_CASES)
def test_autocomplete_offers_only_in_scope_objects(client, estate, model, role):
    world = World(estate, model)
    login(client, estate, role)
    app_label, model_name, field_name = autocomplete_source(model)
    endpoint = reverse("admin:autocomplete")
    params = {"app_label": app_label, "model_name": model_name, "field_name": field_name}
    response = client.get(endpoint, {**params, "term": ""})
    if not role_allows(role, model, VIEW):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    offered = {int(r["id"]) for r in response.json()["results"]}
    for key in KEYS:
        assert (world.objects[key].pk in offered) is (key in in_scope_keys(role)), key
    for key in world.out_of_scope(role):
        response = client.get(endpoint, {**params, "term": world.tokens[key]})
        assert response.json()["results"] == []


@pytest.mark.parametrize("model,role", CASES)
def test_export_contains_only_in_scope_rows(client, estate, model, role):
    world = World(estate, model)
    login(client, estate, role)
    selected = [world.objects[key].pk for key in KEYS]
    response = client.post(
        url(model, "changelist"),
        {"action": "export_xlsx", "_selected_action": selected, "index": "0"},
    )
    if not role_allows(role, model, VIEW):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) - 1 == len(in_scope_keys(role))
    cells = " ".join(str(value) for row in rows for value in row if value is not None)
    assert world.leaked_names(role, cells) == []
