"""A community whose figures are known by hand (see the module's numbers below).

One company, community 报表小区 with two fee items billed monthly per unit — property
物业费 100.00 (late fee 0.1% a day, due 30 days after the period starts) and parking
车位费 50.00 (no late fee) — and three units with their owners: U1 (1栋 101), U2 (1栋
102), U3 (2栋 201). Everything happens through the services, on the dates shown (the
clock is moved):

2025-12-01  bills for 2025-12 (45,000 fen: 3 × (10,000 + 5,000))
2025-12-05  U1 pays its December bills in cash (15,000)
2025-12-06  U2's December parking waived (5,000)
2026-01-01  bills for 2026-01 (45,000) and for 2026-03 (45,000, paid in advance)
2026-01-05  U1 pays 50,000 into its prepaid balance, which pays its January bills (15,000)
2026-01-08  U2 pays its January property fee in cash (10,000)
2026-01-12  U3 pays its December property fee (due 12-31) with its late fee: 12 days ×
            0.1% × 100.00 = 1.20 (10,120)
2026-01-15  U3 pays its March bills in advance (15,000)
2026-01-20  U2's January property fee refunded pro rata, 11 unused days of 31:
            10,000 × 11 // 31 = 3,548, paid back in cash
2026-01-21  U2's January parking waived in part (2,000)
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import User

from linli import testing as t
from linli.billing.models import Bill, BillAdjustment, BillingSettings
from linli.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit
from linli.payments.models import Channel
from linli.payments.services import payment_record, prepaid_deposit, prepaid_pay_bills
from linli.payments.tests.helpers import fixed_fee, grant
from linli.refunds.models import RefundPolicy
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.staff.models import Role

SHANGHAI = ZoneInfo("Asia/Shanghai")
_keys = itertools.count(1)


def at(day: str, hour: int = 10):
    """Move the clock to ``day`` (local time) for what follows in the ``with`` block."""
    moment = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)
    return time_machine.travel(moment, tick=False)


@dataclass
class Estate:
    company: object = None
    community: object = None
    property: object = None
    parking: object = None
    units: dict = field(default_factory=dict)
    owners: dict = field(default_factory=dict)
    manager: User = None
    cashier: User = None
    service: User = None
    finance: User = None

    def bill(self, unit: str, item, period: str) -> Bill:
        fee = self.property if item == "property" else self.parking
        return Bill.objects.get(unit=self.units[unit], fee_item=fee, period_key=period)

    def pay(self, unit: str, bills: list[Bill], amount_fen: int | None = None):
        return payment_record(
            acting_user=self.cashier, unit=self.units[unit], channel=Channel.CASH,
            amount_fen=amount_fen or sum(b.amount_fen for b in bills),
            bill_ids=[b.pk for b in bills], idempotency_key=f"report-cash-{next(_keys)}")

    def adjust(self, bill: Bill, kind: str, amount_fen: int | None):
        adjustment = bill_adjustment_request(acting_user=self.cashier, bill=bill, kind=kind,
                                             reason="测试", amount_fen=amount_fen)
        if adjustment.status == BillAdjustment.Status.PENDING:
            bill_adjustment_decide(acting_user=self.manager, adjustment=adjustment,
                                   approve=True)
        return adjustment

    def refund(self, unit: str, payment, bill: Bill, amount_fen: int):
        application = refund_apply(acting_user=self.owners[unit], payment=payment,
                                   reason="搬走", lines={bill.pk: amount_fen})
        refund_approve(acting_user=self.manager, application=application)
        refund_record_counter(acting_user=self.cashier, application=application,
                              channel=Channel.CASH, reference="现金退还")
        return application

    def issue(self, period: str) -> None:
        bill_run_commit(acting_user=None, community_id=self.community.pk, period_key=period,
                        today=dt.date.fromisoformat(period + "-01"))


def build() -> Estate:
    e = Estate()
    with at("2025-11-20"):
        e.company = t.make_company("报表物业")
        e.community = t.make_community(e.company, "报表小区")
        BillingSettings.objects.update_or_create(
            community=e.community, defaults={"approval_threshold_fen": 10_000_000,
                                             "auto_offset_prepaid": False})
        e.property = fixed_fee(e.community, price="100.00", name="物业费",
                               late_fee_enabled=True, late_fee_daily_rate="0.001")
        e.parking = fixed_fee(e.community, price="50.00", name="车位费", category="parking")
        for name, building, room in (("U1", "1栋", "101"), ("U2", "1栋", "102"),
                                     ("U3", "2栋", "201")):
            unit = t.make_unit(e.community, building=building, room=room)
            person = t.make_person(e.community, name=f"业主{name}")
            t.make_occupancy(unit, person)
            e.units[name] = unit
            e.owners[name] = t.make_owner(person.mobile, password=t.PASSWORD)
        e.manager = t.make_staff(e.company, Role.MANAGER, [e.community])
        e.cashier = t.make_staff(e.company, Role.CASHIER, [e.community])
        e.service = t.make_staff(e.company, Role.SERVICE, [e.community])
        e.finance = t.make_staff(e.company, Role.FINANCE, [e.community])
        for user in (e.manager, e.cashier, e.service, e.finance):
            grant(user, "billing.view_bill", "refunds.add_refundapplication",
                  "refunds.change_refundapplication", "refunds.view_refundapplication")
        RefundPolicy.objects.create(community=e.community, prorata=True, future_periods=True,
                                    window_days=365)
    with at("2025-12-01"):
        e.issue("2025-12")
    with at("2025-12-05"):
        e.pay("U1", [e.bill("U1", "property", "2025-12"), e.bill("U1", "parking", "2025-12")])
    with at("2025-12-06"):
        e.adjust(e.bill("U2", "parking", "2025-12"), BillAdjustment.Kind.WAIVER, 5000)
    with at("2026-01-01"):
        e.issue("2026-01")
        e.issue("2026-03")
    with at("2026-01-05"):
        prepaid_deposit(acting_user=e.cashier, unit=e.units["U1"], amount_fen=50000,
                        channel=Channel.CASH, idempotency_key="report-deposit-u1")
        prepaid_pay_bills(acting_user=e.cashier, unit=e.units["U1"], idempotency_key="report-u1",
                          bill_ids=[e.bill("U1", "property", "2026-01").pk,
                                    e.bill("U1", "parking", "2026-01").pk])
    with at("2026-01-08"):
        e.u2_payment = e.pay("U2", [e.bill("U2", "property", "2026-01")])
    with at("2026-01-12"):
        e.pay("U3", [e.bill("U3", "property", "2025-12")], amount_fen=10120)
    with at("2026-01-15"):
        e.u3_advance = e.pay("U3", [e.bill("U3", "property", "2026-03"),
                                    e.bill("U3", "parking", "2026-03")])
    with at("2026-01-20"):
        e.refund("U2", e.u2_payment, e.bill("U2", "property", "2026-01"), 3548)
    with at("2026-01-21"):
        e.adjust(e.bill("U2", "parking", "2026-01"), BillAdjustment.Kind.WAIVER, 2000)
    return e
