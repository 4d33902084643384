"""A community with money through every channel today and last month, refunds paid out
at the counter, and one to-do of each kind; a second community with nothing, whose
manager must see none of it. Payments, refunds and the waiver go through the real
services; the other to-dos are rows in the state their workflow leaves them (a flagged
reading, an open anomaly, a refund needing staff, a refund paid twice, a failed job),
written directly: the dashboard only reads them, and ``linli check`` is not run here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from linli import testing as t
from linli.billing.models import BillingSettings, BillRunJob, Meter, MeterReading
from linli.billing.services.adjustments import bill_adjustment_request
from linli.owners.models import BindingRequest
from linli.payments.models import Channel, PaymentAnomaly
from linli.payments.services import payment_record
from linli.refunds.models import DuplicateRefund, RefundApplication
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World
from linli.staff.models import Role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _pay(world, unit, bill, channel, *, cashier=None, fen=None, at=None, key):
    return payment_record(acting_user=cashier, unit=unit, channel=channel,
                          amount_fen=fen or bill.amount_fen, bill_ids=[bill.pk],
                          idempotency_key=key, received_at=at)


class Fixture:
    """Today (fen): WeChat +10000, Alipay +5000, cash +10000 (cashier) −3000 refunded
    (cashier), POS +10000 (cashier 2), transfer +5000 (cashier); last month WeChat +10000."""

    def __init__(self):
        w = self.world = World()
        self.community = w.community
        self.cashier2 = t.make_staff(w.company, Role.CASHIER, [w.community])
        self.service = t.make_staff(w.company, Role.SERVICE, [w.community])
        self.other = t.make_community(w.company, name="别的小区")
        self.other_manager = t.make_staff(w.company, Role.MANAGER, [self.other])
        u1, self.owner = w.unit("101")
        u2, self.owner2 = w.unit("102")
        b1, b2 = w.bills(u1), w.bills(u2)
        p1, p2 = w.bills(u1, item=w.parking), w.bills(u2, item=w.parking)
        now = timezone.now()
        last_month = timezone.localtime(now).replace(day=1) - dt.timedelta(days=3)
        self.wechat = _pay(w, u1, b1["past"], Channel.WECHAT, key="wx1")
        self.alipay = _pay(w, u1, p1["past"], Channel.ALIPAY, key="ali1")
        self.cash = _pay(w, u1, b1["later"], Channel.CASH, cashier=w.cashier, key="cash1")
        self.pos = _pay(w, u2, b2["later"], Channel.POS, cashier=self.cashier2, key="pos1")
        self.transfer = _pay(w, u2, p2["later"], Channel.TRANSFER, cashier=w.cashier, key="tr1")
        self.last_month = _pay(w, u2, b2["past"], Channel.WECHAT, key="wx0", at=last_month)
        # A cash refund paid out by the cashier today (30 yuan of the cash payment).
        refund = refund_apply(acting_user=self.owner, payment=self.cash, reason="搬走",
                              lines={b1["later"].pk: 3000})
        refund_approve(acting_user=w.manager, application=refund)
        self.payout = refund_record_counter(acting_user=w.cashier, application=refund,
                                            channel=Channel.CASH, reference="现金退还")
        self._todos(w, u1, u2, b1, b2, p1, p2)

    def _todos(self, w, u1, u2, b1, b2, p1, p2):
        # Refunds to approve: one the owner asked for, one the manager asked for.
        self.by_owner = refund_apply(acting_user=self.owner2, payment=self.pos, reason="多交",
                                     lines={b2["later"].pk: 1000})
        self.by_manager = refund_apply(acting_user=w.manager, payment=self.transfer,
                                       reason="代业主申请", lines={p2["later"].pk: 500})
        # A refund that failed and needs staff (as the payout worker leaves it).
        failed = refund_apply(acting_user=self.owner2, payment=self.pos, reason="重复",
                              lines={b2["later"].pk: 500})
        RefundApplication.objects.filter(pk=failed.pk).update(
            status=RefundApplication.Status.ATTENTION, attention_reason="渠道拒绝")
        # A waiver the manager asked for, waiting for someone else.
        BillingSettings.objects.update_or_create(community=self.community,
                                                 defaults={"approval_threshold_fen": 0})
        self.waiver = bill_adjustment_request(acting_user=w.manager, bill=b1["now"],
                                              kind="waiver", reason="维修", amount_fen=2000)
        meter = Meter.objects.create(unit=u1, community=self.community, kind="water")
        MeterReading.objects.create(meter=meter, community=self.community, period_key="2024-01",
                                    value=Decimal("900"), usage=Decimal("900"),
                                    status=MeterReading.Status.FLAGGED, flag_reason="用量异常")
        PaymentAnomaly.objects.create(community=self.community, key="a1", channel="wechat",
                                      kind=PaymentAnomaly.Kind.LATE, transaction_id="tx-late")
        owner = t.make_owner("13900000001")
        BindingRequest.objects.create(user=owner, mobile="13900000001",
                                      community=self.community, building="1栋", room="101",
                                      name="李四", role="owner")
        DuplicateRefund.objects.create(community=self.community, unit=u1,
                                       application=self.payout.application, payout=self.payout,
                                       amount_fen=3000)
        BillRunJob.objects.create(token="job-1", community=self.community, period_key="2031-01",
                                  expected_count=1, expected_total_fen=100,
                                  status=BillRunJob.Status.FAILED, error="boom")


@pytest.fixture
def fx(db):
    return Fixture()
