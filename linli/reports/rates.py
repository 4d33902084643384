"""Report rows: every figure of the definitions for one group (company, community,
building, fee item, or a month), and the small function API other pages call.

API (all amounts in fen, rates ``Decimal`` fractions rounded once, or ``None``):

- ``collection_rate(scope, window, as_of) -> Figures``: every figure for the scope;
- ``figures_by(scope, window, as_of, dims) -> {key: Figures}``: grouped by
  ``dims`` ⊂ {"community", "building", "fee_item"} (key: their ids, in order);
- ``by_month(scope, window, as_of) -> [(Window, Figures)]``: month by month;
- ``aging(scope, as_of, dims=()) -> {key: [fen per bucket]}``: arrears by bucket
  (``definitions.AGING_BUCKETS``).

``Scope.for_user(user, community_id=…)`` scopes to a staff member's communities;
``Window.month("2026-11")`` or ``Window.months("2026-01", "2026-12")`` is W.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from linli.reports import figures as f
from linli.reports.definitions import AGING_BUCKETS, rate
from linli.reports.scope import Scope, Window, end_of


@dataclass
class Figures:
    charged_fen: int = 0
    collected_fen: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    late_fee_fen: int = 0
    owed_fen: int = 0
    opening_fen: int = 0
    recovered_fen: int = 0
    advance_fen: int | None = 0       # None: not available for this grouping
    units_charged: int = 0
    units_paid_up: int = 0
    waived_fen: int = 0               # waivers, discounts and cancellations (reduced)
    issued_fen: int = 0
    aging_fen: list[int] = field(default_factory=lambda: [0] * len(AGING_BUCKETS))

    @property
    def rate(self) -> Decimal | None:
        return rate(self.collected_fen, self.charged_fen)

    @property
    def recovery_rate(self) -> Decimal | None:
        return rate(self.recovered_fen, self.opening_fen)

    @property
    def overall_rate(self) -> Decimal | None:
        return rate(self.collected_fen + self.recovered_fen, self.charged_fen + self.opening_fen)

    @property
    def households_rate(self) -> Decimal | None:
        return rate(self.units_paid_up, self.units_charged)


def _keys(*maps) -> set:
    out = set()
    for m in maps:
        out |= set(m or {})
    return out


def figures_by(scope: Scope, window: Window, as_of: dt.date, dims=()) -> dict[tuple, Figures]:
    """Every figure per group, for the bills of ``window`` as of ``as_of``."""
    # The start of W, but never after the as-of date: nothing later may count.
    cut = end_of(as_of)
    start_cut = min(end_of(window.start - dt.timedelta(days=1)), cut)
    current = f.parts(scope, window.where(), cut, dims=dims)
    before = {"period_end__lt": window.start}
    opening = f.parts(scope, before, start_cut, dims=dims)
    recovered = f.money_parts(scope, before, cut, dims=dims, since=start_cut)
    future = f.money_parts(scope, {"period_start__gt": as_of}, cut, dims=dims, since=start_cut)
    prepaid = f.prepaid_held(scope, cut, dims=dims)
    homes = f.households(scope, window.where(), cut, dims=dims)
    out = {}
    for key in _keys(current, opening, recovered, future, prepaid, homes):
        p = current.get(key, f.Parts())
        advance = future.get(key, f.Parts()).collected_fen
        out[key] = Figures(
            charged_fen=p.charged_fen, collected_fen=p.collected_fen, paid_fen=p.paid_fen,
            refunded_fen=p.refunded_fen, late_fee_fen=p.late_fee_fen, owed_fen=p.owed_fen,
            opening_fen=opening.get(key, f.Parts()).owed_fen,
            recovered_fen=recovered.get(key, f.Parts()).collected_fen,
            advance_fen=None if prepaid is None else advance + prepaid.get(key, 0),
            units_charged=homes.get(key, (0, 0))[0], units_paid_up=homes.get(key, (0, 0))[1],
            waived_fen=p.reduced_fen, issued_fen=p.issued_fen,
        )
    return out


def collection_rate(scope: Scope, window: Window, as_of: dt.date) -> Figures:
    """Every figure for the whole scope (one group)."""
    return figures_by(scope, window, as_of).get((), Figures(
        advance_fen=None if scope.fee_item_id else 0))


def by_month(scope: Scope, window: Window, as_of: dt.date) -> list[tuple[Window, Figures]]:
    """Month by month over ``window`` (one row per month, each with its own start)."""
    return [(month, collection_rate(scope, month, as_of)) for month in window.month_windows()]


def aging(scope: Scope, as_of: dt.date, dims=()) -> dict[tuple, list[int]]:
    """What bills of any period still owe at ``as_of``, per group, by aging bucket."""
    rows = f.parts(scope, {}, end_of(as_of), dims=dims, bucket_on=as_of)
    out: dict[tuple, list[int]] = {}
    for key, p in rows.items():
        if p.owed_fen:
            out.setdefault(key[:-1], [0] * len(AGING_BUCKETS))[key[-1]] += p.owed_fen
    return out
