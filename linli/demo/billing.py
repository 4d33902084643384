"""Four months of billing for the demo estate, replayed through the real services.

For each demo community: fee items with their standards, prices and bindings
(物业服务费 by building area, 公摊水电 fixed per unit, 停车费 per let parking space, 水费
metered and tiered), a water meter per unit with monthly readings (one suspicious jump
left flagged for review), bill runs for the last four months, counter payments, prepaid
deposits and payments from them, and a few waivers — so that the ledger, the bills and
`linli check` agree because the same code that serves staff wrote every row.

The history is *replayed*: events are run in time order with ``timezone.now()``
answering each event's own moment (``Clock``), so bills are issued on the 1st, payments
received on their day, and every timestamp the services write — issue, receipt, prepaid
movement, journal posting, audit row — tells the same story on the statement. Nothing
happens after the real present. Months are relative to today, so the demo always has a
current month mostly unpaid and some older bills overdue.

Deterministic for a given day (seeded); idempotent through ``load_demo``, which only
loads into an empty database.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
from django.contrib.auth.models import User
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    ChargeStandard,
    FeeItem,
    MeterReading,
)
from linli.billing.selectors import overdue_q
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.config import (
    binding_create,
    fee_item_create,
    standard_create,
    standard_rate_add,
)
from linli.billing.services.meters import meter_ensure, reading_record
from linli.billing.services.meters_import import SHEET as READINGS_SHEET
from linli.billing.services.meters_import import SPEC as READINGS_SPEC
from linli.billing.services.meters_import import readings_import
from linli.demo.billing_money import MoneyPlan
from linli.demo.exceptions import load_exceptions
from linli.demo.replay import Clock, Site, at_hour, last_day, month_start
from linli.estate.models import Community, Occupancy, ParkingSpace, Unit
from linli.money import format_fen
from linli.payments.models import Channel, Payment

Method, Cycle, Timing, DueRule = (ChargeStandard.Method, ChargeStandard.Cycle,
                                  ChargeStandard.Timing, ChargeStandard.DueRule)
SEED = 2026
MONTHS_BILLED = 4  # the current month and the three before it
PROPERTY_PRICE = {"翠湖花园": Decimal("2.30"), "锦绣苑": Decimal("1.80")}  # 元/㎡·月
SHARED_PRICE = Decimal("15.00")  # 元/户·月
PARKING_PRICE = Decimal("300.00")  # 元/车位·月
WATER_TIERS = [{"up_to": "10", "price": "3.50"}, {"up_to": None, "price": "4.80"}]  # 元/吨
# Who does what in each community (demo logins; 锦绣苑 is small: its manager takes money).
STAFF = {
    "翠湖花园": {"manager": "manager", "cashier": "cashier", "approver": "finance"},
    "锦绣苑": {"manager": "manager2", "cashier": "manager2", "approver": "finance"},
}
IMPORT_ABOVE = 50  # units: a community this large imports its readings from Excel


@dataclass
class BillingSummary:
    bills: int
    billed_fen: int
    collected_fen: int  # money received (prepaid drawn on is not received again)
    overdue: int  # bills unpaid past their due date
    payments: int
    flagged_readings: int
    pending_adjustments: int


class BillingLoader(MoneyPlan):
    def __init__(self, communities: dict[str, Community]) -> None:
        self.communities = communities
        self.clock = Clock()
        self.today = timezone.localdate(self.clock.real_now)
        self.rng = random.Random(SEED)
        self.months = [month_start(self.today, -i) for i in range(MONTHS_BILLED - 1, -1, -1)]
        self.events: list[tuple[dt.datetime, int, Callable[[], None]]] = []
        self.habits: dict[int, str] = {}

    # --- the timeline ------------------------------------------------------------------
    def at(self, when: dt.datetime, action: Callable[[], None], *, required: bool = False) -> None:
        """Schedule ``action``; one that would fall after the present is dropped, unless
        ``required`` (then it happens now)."""
        if when > self.clock.real_now:
            if not required:
                return
            when = self.clock.real_now
        self.events.append((when, len(self.events), action))

    def load(self) -> BillingSummary:
        sites = [self.site(c) for c in self.communities.values()]
        with self.clock.patched():
            first = at_hour(month_start(self.months[0], -1), 9)
            self.clock.at = first
            for site in sites:
                self.configure(site)
                self.plan_meters(site)
                self.plan_runs(site)
                self.plan_payments(site)
                self.plan_adjustments(site)
            for when, _seq, action in sorted(self.events, key=lambda e: (e[0], e[1])):
                self.clock.at = when
                action()
        return billing_summary(list(self.communities.values()), today=self.today)

    def site(self, community: Community) -> Site:
        staff = {k: User.objects.get(username=v) for k, v in STAFF[community.name].items()}
        units = list(Unit.objects.filter(community=community).select_related("building")
                     .order_by("id"))
        payers = dict(Occupancy.objects.filter(unit__community=community, is_payer=True,
                                               end_date__isnull=True)
                      .values_list("unit_id", "person__name"))
        return Site(community, units=units, payers=payers, **staff)

    # --- configuration (as a manager would set it up in the console) ----------------------
    def configure(self, site: Site) -> None:
        community, user = site.community, site.manager
        start = month_start(self.months[0], -1)
        BillingSettings.objects.update_or_create(
            community=community, defaults={"scheduled_runs": True, "bill_run_day": 1,
                                           "auto_offset_prepaid": False})
        property_fee = self.standard(
            community, user, "物业服务费", FeeItem.Category.PROPERTY, 1, start,
            PROPERTY_PRICE[community.name], name="住宅及商铺（按建筑面积）",
            method=Method.BUILDING_AREA, due_rule=DueRule.DAY_OF_MONTH, due_day_of_month=31,
            vacancy_percent=Decimal(50), late_fee_enabled=True,
            late_fee_daily_rate=Decimal("0.0005"), late_fee_grace_days=15,
            late_fee_cap_fen=50000,
        )
        shared = self.standard(
            community, user, "公摊水电", FeeItem.Category.SHARED, 2, start, SHARED_PRICE,
            name="每户每月", method=Method.FIXED_UNIT, due_rule=DueRule.DAY_OF_MONTH,
            due_day_of_month=31,
        )
        parking = self.standard(
            community, user, "停车费", FeeItem.Category.PARKING, 3, start, PARKING_PRICE,
            name="租用车位（每位每月）", method=Method.FIXED_SPACE,
            due_rule=DueRule.DAY_OF_MONTH, due_day_of_month=31, bind=False,
        )
        let_spaces = ParkingSpace.objects.filter(
            community=community, kind=ParkingSpace.Kind.RENTED, unit__isnull=False
        ).order_by("code")
        for space in let_spaces:
            binding_create(acting_user=user, standard=parking, scope="parking",
                           parking_space=space, start_date=start)
        water = self.standard(
            community, user, "水费", FeeItem.Category.WATER, 4, start, WATER_TIERS[0]["price"],
            name="居民阶梯水价", method=Method.METERED, meter_kind="water",
            timing=Timing.ARREARS, due_rule=DueRule.DAYS_AFTER_END, due_days=15,
            tiers=WATER_TIERS,
        )
        site.water = water.fee_item
        site.advance_items = [s.fee_item_id for s in (property_fee, shared, parking)]

    def standard(self, community, user, item_name, category, order, start, price, *,
                 tiers=None, bind=True, **terms) -> ChargeStandard:
        item = fee_item_create(acting_user=user, community=community, name=item_name,
                               category=category, sort_order=order)
        standard = standard_create(acting_user=user, fee_item=item, cycle=Cycle.MONTHLY,
                                   **terms)
        standard_rate_add(acting_user=user, standard=standard, effective_from=start,
                          unit_price=price, tiers=tiers)
        if bind:
            binding_create(acting_user=user, standard=standard, scope="community",
                           start_date=start)
        return standard

    # --- meters and readings ----------------------------------------------------------------
    def plan_meters(self, site: Site) -> None:
        """A water meter per unit, a baseline reading at the end of the month before the
        first bills, then a reading at the end of every month until last month. Last month,
        one home's usage jumps far above its usual: that reading waits for review.

        A large community's meter reader hands in a workbook each month, imported as
        staff import it (the first one brings the meters); a small one's manager types
        the readings in one by one. Both paths check each reading by the same rules
        (``linli.billing.services.meters``).
        """
        imported = len(site.units) > IMPORT_ABOVE
        if imported:  # the first workbook brings the meters with it
            meters = [None] * len(site.units)
        else:
            meters = [meter_ensure(acting_user=site.manager, unit=u, kind="water",
                                   serial=f"W{site.community.code.upper()}{u.pk:06d}")
                      for u in site.units]
        values = {u.pk: Decimal(self.rng.randrange(80, 2400)) for u in site.units}
        usual = {u.pk: _usual_usage(self.rng, u) for u in site.units}
        homes = [u.pk for u in site.units if u.status == Unit.Status.OCCUPIED]
        jumper = homes[len(homes) // 3] if imported and homes else None
        write = self.import_readings if imported else self.type_readings
        for month in [month_start(self.months[0], -1), *self.months[:-1]]:
            if month >= self.months[0]:
                for unit in site.units:
                    usage = usual[unit.pk] + Decimal(self.rng.randrange(-20, 21)) / 10
                    if unit.pk == jumper and month == self.months[-2]:
                        usage = Decimal("58.0")
                    values[unit.pk] += max(Decimal(0), usage)
            readings = [(unit, meter, values[unit.pk])
                        for meter, unit in zip(meters, site.units, strict=True)]
            self.at(at_hour(last_day(month), 16),
                    lambda month=month, readings=readings: write(site, month, readings))

    def type_readings(self, site: Site, month: dt.date, readings) -> None:
        for _unit, meter, value in readings:
            reading_record(acting_user=site.manager, meter=meter, period_key=f"{month:%Y-%m}",
                           value=value, read_on=last_day(month), today=last_day(month))

    def import_readings(self, site: Site, month: dt.date, readings) -> None:
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet(READINGS_SHEET)
        sheet.append([c.header for c in READINGS_SPEC.columns])
        for unit, _meter, value in readings:
            sheet.append([unit.building.name, unit.entrance, unit.room_no, "水",
                          f"{month:%Y-%m}", str(value), "", "", last_day(month)])
        buffer = io.BytesIO()
        workbook.save(buffer)
        buffer.name = f"{site.community.name}抄表{month:%Y%m}.xlsx"
        buffer.seek(0)
        result = readings_import(acting_user=site.manager, community=site.community,
                                 file=buffer, today=last_day(month))
        if not result.ok:
            raise RuntimeError(f"demo readings refused: {result.errors[:3]}")

    # --- bill runs ------------------------------------------------------------------------
    def plan_runs(self, site: Site) -> None:
        """On the 1st: the month's property, shared and parking fees (in advance), and last
        month's water (in arrears, now that it is read)."""
        for month in self.months:
            when = at_hour(month, 9)
            self.at(when, lambda month=month: self.run(site, month, site.advance_items),
                    required=True)
            previous = month_start(month, -1)
            if previous >= self.months[0]:
                self.at(when.replace(minute=30),
                        lambda previous=previous, month=month: self.run(
                            site, previous, [site.water.pk], today=month),
                        required=True)

    def run(self, site: Site, month: dt.date, fee_item_ids: list[int],
            today: dt.date | None = None) -> None:
        bill_run_commit(acting_user=site.manager, community_id=site.community.pk,
                        period_key=f"{month:%Y-%m}", fee_item_ids=fee_item_ids,
                        today=today or timezone.localdate())


def _usual_usage(rng: random.Random, unit: Unit) -> Decimal:
    """A household's usual water use in tonnes a month."""
    if unit.delivered_on is None or unit.status == Unit.Status.VACANT:
        return Decimal(0)
    if unit.status == Unit.Status.DECORATING:
        return Decimal(rng.randrange(20, 60)) / 10
    if unit.kind == Unit.Kind.COMMERCIAL:
        return Decimal(rng.randrange(80, 180)) / 10
    return Decimal(rng.randrange(60, 160)) / 10


def billing_summary(communities: list[Community], *, today: dt.date) -> BillingSummary:
    bills = Bill.objects.filter(community__in=communities)
    payments = Payment.objects.filter(community__in=communities)
    return BillingSummary(
        bills=bills.count(),
        billed_fen=bills.aggregate(total=Sum("amount_fen"))["total"] or 0,
        collected_fen=payments.exclude(channel=Channel.PREPAID)
        .aggregate(total=Sum("amount_fen"))["total"] or 0,
        overdue=bills.filter(overdue_q(today)).count(),
        payments=payments.count(),
        flagged_readings=MeterReading.objects.filter(
            community__in=communities, status=MeterReading.Status.FLAGGED).count(),
        pending_adjustments=BillAdjustment.objects.filter(
            bill__community__in=communities, status=BillAdjustment.Status.PENDING).count(),
    )


def billing_summary_text(summary: BillingSummary) -> str:
    return _("Billing: %(bills)d bills, %(billed)s billed, %(collected)s collected in "
             "%(payments)d payments, %(overdue)d bills overdue; %(flagged)d meter readings "
             "held for review, %(pending)d waivers awaiting approval.") % {
        "bills": summary.bills, "billed": format_fen(summary.billed_fen),
        "collected": format_fen(summary.collected_fen), "payments": summary.payments,
        "overdue": summary.overdue, "flagged": summary.flagged_readings,
        "pending": summary.pending_adjustments,
    }


def load_billing(communities: dict[str, Community], *, say: Callable[[str], None]) -> BillingSummary:
    """The replayed history, then the money exceptions left open for staff today
    (``linli.demo.exceptions``); the summary counts both."""
    loader = BillingLoader(communities)
    loader.load()
    load_exceptions(communities)
    summary = billing_summary(list(communities.values()), today=loader.today)
    say(billing_summary_text(summary))
    return summary


__all__ = ["BillingSummary", "billing_summary", "billing_summary_text", "load_billing"]
