"""The estate asks for staff scope through the hook staff register in
``StaffConfig.ready()`` (staff sit above the estate); without it, it refuses."""

from __future__ import annotations

import pytest

from linli import testing as t
from linli.estate import access
from linli.staff.models import Role
from linli.staff.scope import community_ids_for as staff_community_ids_for

pytestmark = pytest.mark.django_db


def test_the_estate_uses_the_staff_scope_rule(estate):
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    assert access._SCOPE_RULES == [staff_community_ids_for]
    assert access.community_ids_for(manager) == frozenset({estate["a1"].pk})


def test_without_the_staff_rule_the_estate_refuses(estate, monkeypatch):
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    monkeypatch.setattr(access, "_SCOPE_RULES", [])
    with pytest.raises(RuntimeError, match="community scope rule"):
        access.community_ids_for(manager)
