"""A registry of to-dos: work waiting for a staff member (readings to review, approvals,
money exceptions), shown with counts and links on the console's home page.

Each app declares its own in ``<app>/todos.py`` with ``@todo``; the console finds them
(``registered``) the way ``linli check`` finds invariants, so core imports no app and a
new app (messages, reconciliation) adds its to-dos without touching the console::

    @todo("readings", title=_("Readings to review"), permission="billing.change_meterreading",
          model="billing.MeterReading", icon="speed")
    def readings_to_review(user, community_ids):
        return MeterReading.objects.filter(status="flagged", community_id__in=community_ids)

The function gets the user and the ids of the communities they work in, and returns a
queryset of the records waiting for *that* user: already cut to those communities, and
without the records the user may not act on (whoever asked for a money decision does
not approve it). The console counts it, and links to ``model``'s console list filtered
to the same records (``?todo=<key>``), or to ``url_name`` for a page of another kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.module_loading import autodiscover_modules

ItemsFn = Callable[[object, frozenset[int]], QuerySet]


@dataclass(frozen=True)
class Todo:
    key: str
    title: object              # a lazy translation
    items: ItemsFn
    permission: str            # the user must have it to see the to-do at all
    model: str = ""            # "app_label.ModelName" of the console list it opens
    url_name: str = ""         # else: a URL name (and ``query``) of the page it opens
    query: str = ""
    icon: str = "task_alt"
    order: int = 100

    def visible_to(self, user) -> bool:
        return bool(user.has_perm(self.permission))

    def pending(self, user, community_ids: Iterable[int]) -> QuerySet:
        return self.items(user, frozenset(community_ids))


_REGISTRY: dict[str, Todo] = {}


def todo(key: str, *, title, permission: str, model: str = "", url_name: str = "",
         query: str = "", icon: str = "task_alt", order: int = 100
         ) -> Callable[[ItemsFn], ItemsFn]:
    """Register ``fn(user, community_ids) -> QuerySet`` as the to-do ``key``."""
    if not (model or url_name):
        raise ValueError(f"to-do {key!r} needs a model or a url_name to link to")

    def register(fn: ItemsFn) -> ItemsFn:
        _REGISTRY[key] = Todo(key, title, fn, permission, model, url_name, query, icon, order)
        return fn

    return register


def registered() -> list[Todo]:
    """Every to-do the installed apps declare, in display order."""
    autodiscover_modules("todos")
    return sorted(_REGISTRY.values(), key=lambda t: (t.order, t.key))


def for_model(label: str) -> list[Todo]:
    """The to-dos whose list is ``label``'s console page (its "to-do" filter)."""
    return [t for t in registered() if t.model.lower() == label.lower()]
