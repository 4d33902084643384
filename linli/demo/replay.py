"""The demo's replay of history: a clock that answers ``timezone.now()`` with the moment
of the event being run, the calendar helpers the plans use, and one community's setup."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from unittest import mock

from django.contrib.auth.models import User
from django.utils import timezone

from linli.billing.calculators.periods import add_months
from linli.billing.models import FeeItem
from linli.estate.models import Community, Unit


def month_start(day: dt.date, months: int = 0) -> dt.date:
    return add_months(day.replace(day=1), months)


def last_day(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def at_hour(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


class Clock:
    """``timezone.now()`` as the replay sees it: the moment of the event being run."""

    def __init__(self) -> None:
        self.real_now = timezone.now()
        self.at: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.at or self.real_now

    def patched(self):
        return mock.patch.object(timezone, "now", self.now)


@dataclass
class Site:
    """One community's billing setup and the people who run it."""

    community: Community
    manager: User
    cashier: User
    approver: User
    water: FeeItem | None = None
    advance_items: list[int] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    payers: dict[int, str] = field(default_factory=dict)
