"""Every console list is searchable and filterable by community and building (where its
rows belong to one), and the busiest lists do not grow queries with their rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from linli import testing as t
from linli.console.scoping import ScopedAdmin
from linli.estate.models import Building, Community, Occupancy, ParkingSpace, Person, Unit
from linli.staff.models import Role

PAGES = sorted(
    (model._meta.label_lower, model)
    for model, model_admin in admin.site._registry.items()
    if isinstance(model_admin, ScopedAdmin)
)
# Rows of these belong to a building although no foreign key says so directly.
BUILDING_BY_DESIGN = {Unit, ParkingSpace, Person, Occupancy}


def reaches(model, target, depth: int = 2) -> bool:
    """Does a chain of at most ``depth`` forward relations lead from ``model`` to ``target``?"""
    if depth == 0:
        return False
    for field in model._meta.get_fields():
        if not (field.is_relation and field.concrete) or field.related_model in (None, model):
            continue
        if field.related_model is target or reaches(field.related_model, target, depth - 1):
            return True
    return False


def filtered_models(changelist) -> set:
    return {
        spec.field.related_model
        for spec in changelist.filter_specs
        if getattr(getattr(spec, "field", None), "is_relation", False)
    }


@pytest.mark.parametrize("label,model", PAGES, ids=[label for label, _ in PAGES])
def test_every_list_is_searchable_and_filterable_by_community_and_building(
    client, estate, label, model
):
    client.force_login(User.objects.create_superuser("root", "", t.PASSWORD))
    model_admin = admin.site._registry[model]
    assert model_admin.search_fields, f"{label}: no search box"
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url, {"q": "x"})
    assert response.status_code == 200
    offered = filtered_models(client.get(url).context["cl"])
    if model is not Community and reaches(model, Community):
        assert Community in offered, f"{label}: no community filter"
    if model is not Building and (model in BUILDING_BY_DESIGN or reaches(model, Building)):
        assert Building in offered, f"{label}: no building filter"


@pytest.mark.parametrize(
    "url_name,param,key",
    [
        ("admin:estate_unit_changelist", "building__id__exact", "a1_building"),
        ("admin:estate_parkingspace_changelist", "unit__building__id__exact", "a1_building"),
        ("admin:estate_person_changelist", "occupancies__unit__building__id__exact", "a1_building"),
        ("admin:estate_occupancy_changelist", "unit__building__id__exact", "a1_building"),
        ("admin:estate_unit_changelist", "community__id__exact", "a1"),
        ("admin:estate_occupancy_changelist", "unit__community__id__exact", "a1"),
    ],
)
def test_filters_narrow_the_list_and_an_out_of_scope_value_finds_nothing(
    client, estate, url_name, param, key
):
    admin_user = t.make_staff(estate["company_a"], Role.COMPANY_ADMIN)
    client.force_login(admin_user)
    t.make_unit(estate["a2"])  # something the filter must leave out
    response = client.get(reverse(url_name), {param: estate[key].pk})
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows, "the filter finds the A1 rows"
    community_id = estate["a1"].pk
    for row in rows:
        owner = getattr(row, "community_id", None) or row.unit.community_id
        assert owner == community_id
    other = key.replace("a1", "b1")
    response = client.get(reverse(url_name), {param: estate[other].pk})
    assert list(response.context["cl"].result_list) == []


# --- query counts -------------------------------------------------------------------


def _populate(community, n: int) -> None:
    for i in range(n):
        unit = t.make_unit(community, building=f"{i % 3 + 1}栋", floor=i + 2)
        person = t.make_person(community, name=f"业主{i}")
        t.make_occupancy(unit, person)
        t.make_parking(community, unit)


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url_name,max_queries",
    [
        ("admin:estate_unit_changelist", 11),
        ("admin:estate_person_changelist", 11),
        ("admin:estate_parkingspace_changelist", 11),
        ("admin:estate_occupancy_changelist", 11),
    ],
)
def test_list_queries_do_not_grow_with_rows(
    client, estate, django_assert_max_num_queries, url_name, max_queries
):
    client.force_login(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    url = reverse(url_name)
    client.get(url)  # warm caches (content types, sessions)
    few = _count_queries(client, url)
    _populate(estate["a1"], 30)
    with django_assert_max_num_queries(max_queries):
        client.get(url)
    assert _count_queries(client, url) == few
