"""Four months of billing for the demo estate, replayed through the real services.

For each demo community: fee items with their standards, prices and bindings
(物业服务费 by building area, 公摊水电 fixed per unit, 停车费 per let parking space, 水费
metered and tiered), a water meter per unit with monthly readings (one suspicious jump
left flagged for review), bill runs for the last four months, counter payments, prepaid
deposits and payments from them, and a few waivers — so that the ledger, the bills and
`linli check` agree because the same code that serves staff wrote every row.

The history is *replayed*: events are run in time order with ``timezone.now()``
answering each event's own moment (``_Clock``), so bills are issued on the 1st, payments
received on their day, and every timestamp the services write — issue, receipt, prepaid
movement, journal posting, audit row — tells the same story on the statement. Nothing
happens after the real present. Months are relative to today, so the demo always has a
current month mostly unpaid and some older bills overdue.

Deterministic for a given day (seeded); idempotent through ``load_demo``, which only
loads into an empty database.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from unittest import mock

import openpyxl
from django.contrib.auth.models import User
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.calculators.periods import add_months
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    ChargeStandard,
    FeeItem,
    MeterReading,
)
from linli.billing.selectors import late_fee_due_fen, overdue_q, with_balances
from linli.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
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
from linli.estate.models import Community, Occupancy, ParkingSpace, Unit
from linli.money import format_fen
from linli.payments.models import Channel, Payment
from linli.payments.services import (
    amount_due_fen,
    payment_record,
    prepaid_deposit,
    prepaid_pay_bills,
)

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
# How households pay (weights): every month or every other month at the counter, a
# quarter at once or a month late (both with late fees), from a prepaid deposit the
# cashier draws on, not since the first month, or not at all.
HABITS = {"monthly": 8, "bimonthly": 46, "quarterly": 14, "late": 6, "prepaid": 5,
          "stopped": 11, "never": 10}
CHANNELS = ((Channel.CASH, 35), (Channel.POS, 45), (Channel.TRANSFER, 20))
DEVELOPER = "开发商（未售房源）"
IMPORT_ABOVE = 50  # units: a community this large imports its readings from Excel


def _month_start(day: dt.date, months: int = 0) -> dt.date:
    return add_months(day.replace(day=1), months)


def _last_day(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


class _Clock:
    """``timezone.now()`` as the replay sees it: the moment of the event being run."""

    def __init__(self) -> None:
        self.real_now = timezone.now()
        self.at: dt.datetime | None = None

    def now(self) -> dt.datetime:
        return self.at or self.real_now

    def patched(self):
        return mock.patch.object(timezone, "now", self.now)


@dataclass
class BillingSummary:
    bills: int
    billed_fen: int
    collected_fen: int  # money received (prepaid drawn on is not received again)
    overdue: int  # bills unpaid past their due date
    payments: int
    flagged_readings: int
    pending_adjustments: int


@dataclass
class _Site:
    """One community's billing setup and the people who run it."""

    community: Community
    manager: User
    cashier: User
    approver: User
    water: FeeItem | None = None
    advance_items: list[int] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    payers: dict[int, str] = field(default_factory=dict)


class BillingLoader:
    def __init__(self, communities: dict[str, Community]) -> None:
        self.communities = communities
        self.clock = _Clock()
        self.today = timezone.localdate(self.clock.real_now)
        self.rng = random.Random(SEED)
        self.months = [_month_start(self.today, -i) for i in range(MONTHS_BILLED - 1, -1, -1)]
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
            first = _at(_month_start(self.months[0], -1), 9)
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

    def site(self, community: Community) -> _Site:
        staff = {k: User.objects.get(username=v) for k, v in STAFF[community.name].items()}
        units = list(Unit.objects.filter(community=community).select_related("building")
                     .order_by("id"))
        payers = dict(Occupancy.objects.filter(unit__community=community, is_payer=True,
                                               end_date__isnull=True)
                      .values_list("unit_id", "person__name"))
        return _Site(community, units=units, payers=payers, **staff)

    # --- configuration (as a manager would set it up in the console) ----------------------
    def configure(self, site: _Site) -> None:
        community, user = site.community, site.manager
        start = _month_start(self.months[0], -1)
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
    def plan_meters(self, site: _Site) -> None:
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
        for month in [_month_start(self.months[0], -1), *self.months[:-1]]:
            if month >= self.months[0]:
                for unit in site.units:
                    usage = usual[unit.pk] + Decimal(self.rng.randrange(-20, 21)) / 10
                    if unit.pk == jumper and month == self.months[-2]:
                        usage = Decimal("58.0")
                    values[unit.pk] += max(Decimal(0), usage)
            readings = [(unit, meter, values[unit.pk])
                        for meter, unit in zip(meters, site.units, strict=True)]
            self.at(_at(_last_day(month), 16),
                    lambda month=month, readings=readings: write(site, month, readings))

    def type_readings(self, site: _Site, month: dt.date, readings) -> None:
        for _unit, meter, value in readings:
            reading_record(acting_user=site.manager, meter=meter, period_key=f"{month:%Y-%m}",
                           value=value, read_on=_last_day(month), today=_last_day(month))

    def import_readings(self, site: _Site, month: dt.date, readings) -> None:
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet(READINGS_SHEET)
        sheet.append([c.header for c in READINGS_SPEC.columns])
        for unit, _meter, value in readings:
            sheet.append([unit.building.name, unit.entrance, unit.room_no, "水",
                          f"{month:%Y-%m}", str(value), "", "", _last_day(month)])
        buffer = io.BytesIO()
        workbook.save(buffer)
        buffer.name = f"{site.community.name}抄表{month:%Y%m}.xlsx"
        buffer.seek(0)
        result = readings_import(acting_user=site.manager, community=site.community,
                                 file=buffer, today=_last_day(month))
        if not result.ok:
            raise RuntimeError(f"demo readings refused: {result.errors[:3]}")

    # --- bill runs ------------------------------------------------------------------------
    def plan_runs(self, site: _Site) -> None:
        """On the 1st: the month's property, shared and parking fees (in advance), and last
        month's water (in arrears, now that it is read)."""
        for month in self.months:
            when = _at(month, 9)
            self.at(when, lambda month=month: self.run(site, month, site.advance_items),
                    required=True)
            previous = _month_start(month, -1)
            if previous >= self.months[0]:
                self.at(when.replace(minute=30),
                        lambda previous=previous, month=month: self.run(
                            site, previous, [site.water.pk], today=month),
                        required=True)

    def run(self, site: _Site, month: dt.date, fee_item_ids: list[int],
            today: dt.date | None = None) -> None:
        bill_run_commit(acting_user=site.manager, community_id=site.community.pk,
                        period_key=f"{month:%Y-%m}", fee_item_ids=fee_item_ids,
                        today=today or timezone.localdate())

    # --- money ------------------------------------------------------------------------------
    def plan_payments(self, site: _Site) -> None:
        """Each household keeps a habit (``HABITS``). Bills are due at the end of their
        month, late fees start 15 days later, and most people pay every month or two at
        the counter; a few pay a quarter at once or a month late (and pay late fees),
        some stopped paying. Unsold homes are the developer's: it pays by transfer."""
        names, weights = zip(*HABITS.items(), strict=True)
        m3, m2, m1, current = self.months
        for unit in site.units:
            habit = self.habits[unit.pk] = self.rng.choices(names, weights)[0]
            if unit.delivered_on is None:
                self.pay_at(site, unit, self.day_in(m1, 18, 25), channel=Channel.TRANSFER,
                            payer=DEVELOPER)
            elif habit == "monthly":
                for month in (m3, m2, m1):
                    self.pay_at(site, unit, self.day_in(month, 3, 28))
                if self.rng.random() < 0.3:
                    self.pay_at(site, unit, self.day_in(current, 3, 28))
            elif habit == "bimonthly":
                self.pay_at(site, unit, self.day_in(m2, 1, 15))
                if self.rng.random() < 0.6:
                    self.pay_at(site, unit, self.day_in(current, 1, 15))
            elif habit == "quarterly":
                self.pay_at(site, unit, self.day_in(m1, 5, 15))
            elif habit == "late":  # two months at once, after the grace days: late fees
                self.pay_at(site, unit, self.day_in(m1, 17, 28), issued_before=_at(m1, 0))
            elif habit == "prepaid":
                self.plan_prepaid(site, unit)
            elif habit == "stopped":
                self.pay_at(site, unit, self.day_in(m3, 5, 28))

    def plan_prepaid(self, site: _Site, unit: Unit) -> None:
        """A deposit of a few hundred to a few thousand yuan before the first bills; every
        other month the cashier pays the open bills from it (the community does not
        offset automatically). A small deposit runs out and leaves a bill part-paid."""
        amount_fen = self.rng.choice((50000, 100000, 200000, 300000))
        channel = self.channel()
        when = _at(_month_start(self.months[0], -1) + dt.timedelta(days=self.rng.randrange(5, 25)),
                   10, self.rng.randrange(60))

        def deposit():
            prepaid_deposit(acting_user=site.cashier, unit=unit, amount_fen=amount_fen,
                            channel=channel, payer_name=site.payers.get(unit.pk, ""),
                            reference=self.reference(channel),
                            idempotency_key=f"demo:deposit:{unit.pk}")
        self.at(when, deposit)
        for month in (self.months[1], self.months[3]):
            self.at(self.day_in(month, 2, 5), lambda month=month: prepaid_pay_bills(
                acting_user=site.cashier, unit=unit, bill_ids=self.open_bill_ids(unit),
                idempotency_key=f"demo:offset:{unit.pk}:{month:%Y%m}"))

    def pay_at(self, site: _Site, unit: Unit, when: dt.datetime, *,
               issued_before: dt.datetime | None = None, channel: str | None = None,
               payer: str | None = None) -> None:
        channel = channel or self.channel()
        payer = site.payers.get(unit.pk, "") if payer is None else payer
        self.at(when, lambda: self.pay(site, unit, channel, payer, issued_before=issued_before))

    def pay(self, site: _Site, unit: Unit, channel: str, payer: str,
            issued_before: dt.datetime | None = None) -> Payment | None:
        """Settle every open bill (issued before ``issued_before``), late fees included."""
        now = timezone.now()
        bills = Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES)
        if issued_before is not None:
            bills = bills.filter(issued_at__lt=issued_before)
        bills = list(with_balances(bills))
        amount_fen = amount_due_fen(bills, as_of=timezone.localdate(now))
        if amount_fen <= 0:
            return None
        return payment_record(
            acting_user=site.cashier, unit=unit, channel=channel, amount_fen=amount_fen,
            bill_ids=[b.pk for b in bills], received_at=now, payer_name=payer,
            reference=self.reference(channel),
            idempotency_key=f"demo:pay:{unit.pk}:{now:%Y%m%d%H%M}",
        )

    @staticmethod
    def open_bill_ids(unit: Unit) -> list[int]:
        return list(Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES)
                    .order_by("pk").values_list("pk", flat=True))

    def channel(self) -> str:
        channels, weights = zip(*CHANNELS, strict=True)
        return self.rng.choices(channels, weights)[0]

    def reference(self, channel: str) -> str:
        if channel == Channel.POS:
            return f"POS{self.rng.randrange(10**6):06d}"
        if channel == Channel.TRANSFER:
            return f"HZ{self.rng.randrange(10**12):012d}"
        return ""

    def day_in(self, month: dt.date, first: int, last: int) -> dt.datetime:
        day = month.replace(day=self.rng.randint(first, min(last, _last_day(month).day)))
        return _at(day, self.rng.randint(8, 17), self.rng.randrange(60))

    # --- waivers (减免) -----------------------------------------------------------------------
    def plan_adjustments(self, site: _Site) -> None:
        """Waivers the way they happen: two above the approval limit, asked by the manager
        and approved by finance; a small one applied at once; one still waiting for
        approval; and a late fee forgiven. Early in the month, before payers come."""
        def homes(*habits):
            return [u for u in site.units if u.status == Unit.Status.OCCUPIED
                    and u.kind == Unit.Kind.RESIDENTIAL and self.habits.get(u.pk) in habits]

        payers, defaulters = homes("monthly"), homes("stopped", "never")
        if len(payers) < 3 or len(defaulters) < 2:
            return
        picks = self.rng.sample(payers, 3) + self.rng.sample(defaulters, 2)
        earlier, last = self.months[1], self.months[2]
        plans = [
            (picks[0], "物业服务费", earlier, BillAdjustment.Kind.WAIVER,
             "楼上管道维修导致漏水，经管理处核实减免当月物业服务费", True),
            (picks[1], "物业服务费", earlier, BillAdjustment.Kind.WAIVER,
             "低保家庭，按公司规定减免当月物业服务费", True),
            (picks[2], "公摊水电", last, BillAdjustment.Kind.WAIVER,
             "所在单元电梯停运一周，减免当月公摊", False),
            (picks[3], "物业服务费", last, BillAdjustment.Kind.WAIVER,
             "业主反映外墙渗水未及时维修，申请减免", None),
        ]
        for unit, item, month, kind, reason, approve in plans:
            self.at(_at(month.replace(day=2), 10, 30),
                    lambda unit=unit, item=item, month=month, kind=kind, reason=reason,
                    approve=approve: self.adjust(site, unit, item, month, kind, reason, approve))
        self.at(_at(self.months[-1].replace(day=2), 11),
                lambda: self.forgive_late_fee(site, picks[4]))

    def adjust(self, site: _Site, unit, item, month, kind, reason, approve) -> None:
        bill = with_balances(Bill.objects.filter(
            unit=unit, fee_item__name=item, period_key=f"{month:%Y-%m}",
            status__in=Bill.OPEN_STATUSES)).first()
        if bill is None:
            return
        adjustment = bill_adjustment_request(acting_user=site.manager, bill=bill, kind=kind,
                                             reason=reason, amount_fen=bill.owed_fen)
        if approve and adjustment.status == BillAdjustment.Status.PENDING:
            bill_adjustment_decide(acting_user=site.approver, adjustment=adjustment,
                                   approve=True, note="情况属实，同意")

    def forgive_late_fee(self, site: _Site, unit: Unit) -> None:
        today = timezone.localdate()
        for bill in with_balances(Bill.objects.filter(pk__in=self.open_bill_ids(unit))):
            if late_fee_due_fen(bill, as_of=today) > 0:
                bill_adjustment_request(acting_user=site.manager, bill=bill,
                                        kind=BillAdjustment.Kind.LATE_FEE_WAIVER,
                                        reason="业主住院期间未能缴费，免收滞纳金", today=today)
                return


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
    summary = BillingLoader(communities).load()
    say(billing_summary_text(summary))
    return summary


__all__ = ["BillingSummary", "billing_summary", "billing_summary_text", "load_billing"]
