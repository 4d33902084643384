"""The home page's 本月收缴率 and 欠费账龄 cards, from the reports app's figures.

This month is compared with last month and with the same month a year ago, each counted
as of the same day of its month (a month's rate rises as it goes on: comparing this
month so far with a whole month would flatter the past)."""

from __future__ import annotations

import calendar
import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from linli.dashboard.cards import Card
from linli.money import format_fen
from linli.reports import rates
from linli.reports.definitions import AGING_BUCKETS, DEFINITIONS, format_rate
from linli.reports.scope import Scope, Window, add_months

REPORT_PERMISSION = "billing.view_bill"


def same_day(month_start: dt.date, day: int) -> dt.date:
    """``day`` of the month starting ``month_start``, or its last day when shorter."""
    last = calendar.monthrange(month_start.year, month_start.month)[1]
    return month_start.replace(day=min(day, last))


def _month_figures(scope: Scope, month_start: dt.date, day: int):
    return rates.collection_rate(scope, Window.month(f"{month_start:%Y-%m}"),
                                 same_day(month_start, day))


def collection_rate_card(user, community_ids: frozenset[int]) -> Card | None:
    if not user.has_perm(REPORT_PERMISSION) or not community_ids:
        return None
    today = timezone.localdate()
    this_month = today.replace(day=1)
    scope = Scope(frozenset(community_ids))
    now = _month_figures(scope, this_month, today.day)
    last = _month_figures(scope, add_months(this_month, -1), today.day)
    year_ago = _month_figures(scope, add_months(this_month, -12), today.day)
    # By company: one row for all the communities the card counts (the same figure).
    link = reverse("reports:collection") + "?" + urlencode({"period": f"{this_month:%Y-%m}",
                                                           "by": "company"})
    return Card(
        title=_("Collection rate this month"),
        value=format_rate(now.rate),
        compare=_("Same day last month: %(last)s · same month last year: %(year)s") % {
            "last": format_rate(last.rate), "year": format_rate(year_ago.rate)},
        note=str(DEFINITIONS["rate"].text),
        link=link,
        extra=[
            (str(DEFINITIONS["charged"].name), format_fen(now.charged_fen), link),
            (str(DEFINITIONS["collected"].name), format_fen(now.collected_fen), link),
            (str(DEFINITIONS["overall_rate"].name), format_rate(now.overall_rate), link),
        ],
    )


def aging_card(user, community_ids: frozenset[int]) -> Card | None:
    if not user.has_perm(REPORT_PERMISSION) or not community_ids:
        return None
    today = timezone.localdate()
    buckets = rates.aging(Scope(frozenset(community_ids)), today).get((), [0] * len(AGING_BUCKETS))
    link = reverse("reports:arrears") + "?" + urlencode({"as_of": today.isoformat()})
    return Card(
        title=_("Arrears by age"),
        value=format_fen(sum(buckets)),
        note=str(DEFINITIONS["aging"].text),
        link=link,
        extra=[(str(label), format_fen(fen), link)
               for (_bound, label), fen in zip(AGING_BUCKETS, buckets, strict=True)],
    )
