"""One home binding request inside a given community, for the console's scope tests
(``linli/console/tests/test_scope_registry.py``), made through the owners' service: an
owner named ``token`` asks for room ``token``."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from django.db import models

from linli import testing as t
from linli.estate.models import Community
from linli.owners.bindings import binding_request_create
from linli.owners.models import BindingRequest

_mobiles = itertools.count(1)


def _binding_request(community: Community, token: str) -> BindingRequest:
    owner = t.make_owner(f"137{next(_mobiles):08d}")
    return binding_request_create(user=owner, community=community, building="1栋",
                                  room=token, name=token, role=BindingRequest.Role.OWNER)


FACTORIES: dict[str, Callable[[Community, str], models.Model]] = {
    "owners.bindingrequest": _binding_request,
}
