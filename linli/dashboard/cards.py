"""Cards other apps add to the console's home page, between the takings and the to-dos.

The reports app (issue 17: 收缴率, arrears, aging) plugs its "本月收缴率" card in here:
a function ``(user, community_ids) -> Card | None`` registered with ``register``
(``None``: nothing to show this user), for example in ``ReportsConfig.ready()`` or in
``linli/dashboard/apps.py``::

    from linli.dashboard.cards import Card, register

    def collection_rate_card(user, community_ids):
        rate = ...  # this month's and last month's 当期收缴率 for those communities
        return Card(title=_("Collection rate this month"), value="87.5%",
                    compare=_("Last month: 85.1%"), note=_("实收 ÷ 应收 of this month's bills"),
                    link=reverse("reports:collection-rate"))

    register(collection_rate_card)

A card may also carry a chart (``chart``: Chart.js data as a dict; rendered by unfold's
bar chart component from a data attribute, so no inline script is needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Card:
    title: str
    value: str
    compare: str = ""
    note: str = ""       # how the figure is counted (shown under it)
    link: str = ""       # the page (or drill-down) the figure opens
    chart: dict | None = None
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # (label, value, link)


CardFn = Callable[[object, frozenset[int]], Card | None]
_CARDS: list[CardFn] = []


def register(fn: CardFn) -> CardFn:
    if fn not in _CARDS:
        _CARDS.append(fn)
    return fn


def unregister(fn: CardFn) -> None:
    if fn in _CARDS:
        _CARDS.remove(fn)


def cards_for(user, community_ids: frozenset[int]) -> list[Card]:
    return [card for fn in _CARDS if (card := fn(user, community_ids)) is not None]
