"""The demo's money: how households pay (counter payments by habit, prepaid deposits
drawn on by the cashier) and the waivers staff grant — planned onto the replay's
timeline by ``BillingLoader`` (``linli.demo.billing``), through the real services."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from django.utils import timezone

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from linli.demo.replay import Site, at_hour, last_day, month_start
from linli.estate.models import Unit
from linli.payments.models import Channel, Payment
from linli.payments.services import (
    amount_due_fen,
    payment_record,
    prepaid_deposit,
    prepaid_pay_bills,
)

# How households pay (weights): every month or every other month at the counter, a
# quarter at once or a month late (both with late fees), from a prepaid deposit the
# cashier draws on, not since the first month, or not at all.
HABITS = {"monthly": 8, "bimonthly": 46, "quarterly": 14, "late": 6, "prepaid": 5,
          "stopped": 11, "never": 10}
CHANNELS = ((Channel.CASH, 35), (Channel.POS, 45), (Channel.TRANSFER, 20))
DEVELOPER = "开发商（未售房源）"


class MoneyPlan:
    """Payments, prepaid money and waivers, for ``BillingLoader``: uses its ``rng``,
    ``months``, ``habits`` and ``at`` (the timeline)."""

    rng: random.Random
    months: list[dt.date]
    habits: dict[int, str]
    at: Callable

    # --- money ------------------------------------------------------------------------------
    def plan_payments(self, site: Site) -> None:
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
                self.pay_at(site, unit, self.day_in(m1, 17, 28), issued_before=at_hour(m1, 0))
            elif habit == "prepaid":
                self.plan_prepaid(site, unit)
            elif habit == "stopped":
                self.pay_at(site, unit, self.day_in(m3, 5, 28))

    def plan_prepaid(self, site: Site, unit: Unit) -> None:
        """A deposit of a few hundred to a few thousand yuan before the first bills; every
        other month the cashier pays the open bills from it (the community does not
        offset automatically). A small deposit runs out and leaves a bill part-paid."""
        amount_fen = self.rng.choice((50000, 100000, 200000, 300000))
        channel = self.channel()
        when = at_hour(month_start(self.months[0], -1) + dt.timedelta(days=self.rng.randrange(5, 25)),
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

    def pay_at(self, site: Site, unit: Unit, when: dt.datetime, *,
               issued_before: dt.datetime | None = None, channel: str | None = None,
               payer: str | None = None) -> None:
        channel = channel or self.channel()
        payer = site.payers.get(unit.pk, "") if payer is None else payer
        self.at(when, lambda: self.pay(site, unit, channel, payer, issued_before=issued_before))

    def pay(self, site: Site, unit: Unit, channel: str, payer: str,
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
        day = month.replace(day=self.rng.randint(first, min(last, last_day(month).day)))
        return at_hour(day, self.rng.randint(8, 17), self.rng.randrange(60))

    # --- waivers (减免) -----------------------------------------------------------------------
    def plan_adjustments(self, site: Site) -> None:
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
            self.at(at_hour(month.replace(day=2), 10, 30),
                    lambda unit=unit, item=item, month=month, kind=kind, reason=reason,
                    approve=approve: self.adjust(site, unit, item, month, kind, reason, approve))
        self.at(at_hour(self.months[-1].replace(day=2), 11),
                lambda: self.forgive_late_fee(site, picks[4]))

    def adjust(self, site: Site, unit, item, month, kind, reason, approve) -> None:
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

    def forgive_late_fee(self, site: Site, unit: Unit) -> None:
        today = timezone.localdate()
        for bill in with_balances(Bill.objects.filter(pk__in=self.open_bill_ids(unit))):
            if late_fee_due_fen(bill, as_of=today) > 0:
                bill_adjustment_request(acting_user=site.manager, bill=bill,
                                        kind=BillAdjustment.Kind.LATE_FEE_WAIVER,
                                        reason="业主住院期间未能缴费，免收滞纳金", today=today)
                return
