"""The money exceptions staff meet, left open in the demo for them to close (翠湖花园):

- an online payment whose amount did not match its order: held in suspense as an open
  amount-mismatch anomaly (resolve it, e.g. to the unit's prepaid balance);
- an owner's refund of a prepaid top-up, applied by customer service and approved by
  the manager, whose payout the channel refused: it needs staff (retry it, or pay it
  another way);
- a one-time fee billed this month by a run committed with prepaid auto-offset on,
  after a few units paid money in ahead: the run's bills are partly paid from prepaid,
  and the run can still be reversed (the offsets are unwound first).

All through the real services, at the present moment (after the replayed history), so
that the ledger, the anomaly's suspense and ``linli check`` agree. Loaded once, inside
``load_demo``'s transaction (the demo company is the idempotency marker).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock

from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from linli.billing.models import Bill, BillingSettings, BillRun, ChargeStandard, FeeItem
from linli.billing.services.bill_run import bill_run_commit, bill_run_offset
from linli.billing.services.config import (
    binding_create,
    fee_item_create,
    standard_create,
    standard_rate_add,
)
from linli.demo.payments import sandbox_account_open
from linli.demo.replay import last_day, month_start
from linli.estate.models import Community, Unit
from linli.payments.gateways import gateway_for
from linli.payments.gateways.base import GatewayError, TradeState, TradeStatus
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.models import Channel, MerchantAccount, PaymentAnomaly, PrepaidWallet
from linli.payments.orders import order_create, trade_apply
from linli.payments.services import prepaid_deposit
from linli.refunds.models import RefundApplication
from linli.refunds.payouts import refund_execute
from linli.refunds.services import refund_apply, refund_approve

COMMUNITY = "翠湖花园"
SITE_URL = "http://127.0.0.1:8000"  # ``linli demo`` points the account at its own port
MISMATCH_SHORT_FEN = 10000  # the payer paid 100 yuan less than the order asked
TOPUP_FEN = 80000  # an 800-yuan top-up, refunded in full
# What WeChat Pay answers when the merchant's account cannot cover a refund.
REFUSAL = ("NOTENOUGH", "基本账户余额不足，请充值后重新发起")
ONE_TIME_ITEM = "二次供水水箱清洗费"
ONE_TIME_PRICE = Decimal("30.00")  # 元/户
DEPOSITS_FEN = (10000, 10000, 1000)  # the last one covers a bill only in part


@dataclass
class Exceptions:
    anomaly: PaymentAnomaly
    refund: RefundApplication
    run: BillRun


def load_exceptions(communities: dict[str, Community]) -> Exceptions:
    # The sandbox channel (模拟支付) works only in the demo: this is the demo loading.
    with override_settings(LINLI_SANDBOX_PAYMENTS=True):
        return _load(communities[COMMUNITY])


def _load(community: Community) -> Exceptions:
    users = {u.username: u for u in User.objects.filter(
        username__in=("cashier", "manager", "service"))}
    sandbox_account_open(community, SITE_URL)
    account = MerchantAccount.objects.get(community=community, channel=Channel.SANDBOX)
    homes = _quiet_homes(community)
    anomaly = amount_mismatch(account, homes[0], users["cashier"])
    refund = failed_refund(account, homes[1], users)
    run = offset_run(community, homes[2:2 + len(DEPOSITS_FEN)], users)
    return Exceptions(anomaly=anomaly, refund=refund, run=run)


def _quiet_homes(community: Community) -> list[Unit]:
    """Occupied homes with open 物业服务费 bills and no prepaid balance, in a fixed order."""
    funded = PrepaidWallet.objects.filter(balance_fen__gt=0).values("unit_id")
    with_open = Bill.objects.filter(fee_item__name="物业服务费", status__in=Bill.OPEN_STATUSES,
                                    amount_fen__gt=MISMATCH_SHORT_FEN * 2).values("unit_id")
    return list(Unit.objects.filter(
        community=community, status=Unit.Status.OCCUPIED, kind=Unit.Kind.RESIDENTIAL,
        pk__in=with_open).exclude(pk__in=funded).order_by("pk")[:2 + len(DEPOSITS_FEN)])


def amount_mismatch(account: MerchantAccount, unit: Unit, cashier) -> PaymentAnomaly:
    """An online order for the unit's open property-fee bills, paid with 100 yuan less
    than it asked (an old payment code): the money waits in suspense."""
    bills = Bill.objects.filter(unit=unit, fee_item__name="物业服务费",
                                status__in=Bill.OPEN_STATUSES).order_by("pk")
    order = order_create(payer=cashier, channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key="demo:mismatch",
                         bill_ids=list(bills.values_list("pk", flat=True)))
    trade = TradeStatus(out_trade_no=order.out_trade_no, state=TradeState.PAID,
                        transaction_id=f"SBXDEMO{order.pk:017d}",
                        amount_fen=order.amount_fen - MISMATCH_SHORT_FEN,
                        paid_at=timezone.now(), channel_state="SUCCESS")
    applied = trade_apply(account, trade, source="demo")
    if applied.anomaly is None:
        raise RuntimeError(f"demo amount mismatch not held: {applied!r}")
    return applied.anomaly


def failed_refund(account: MerchantAccount, unit: Unit, users: dict) -> RefundApplication:
    """An owner topped up 800 yuan online, then asked for it back (moving out). Customer
    service applied on the owner's behalf, the manager approved, and the channel refused
    the payout: the merchant account could not cover it. It now needs staff."""
    order = order_create(payer=users["cashier"], channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key="demo:topup", unit=unit, topup_fen=TOPUP_FEN)
    status = gateway_for(account.config()).pay(order.out_trade_no)
    payment = trade_apply(account, status, source="demo").payment
    application = refund_apply(acting_user=users["service"], payment=payment,
                               reason="业主出租房屋后搬离，申请退回预存款", prepaid_fen=TOPUP_FEN)
    application = refund_approve(acting_user=users["manager"], application=application,
                                 note="已核实预存款未使用，同意退回")

    def refuse(_gateway, _request):
        raise GatewayError(*REFUSAL)

    with mock.patch.object(SandboxGateway, "refund", refuse):
        refund_execute(application.pk)
    application.refresh_from_db()
    if application.status != RefundApplication.Status.ATTENTION:
        raise RuntimeError(f"demo refund did not fail: {application.status}")
    return application


def offset_run(community: Community, units: list[Unit], users: dict) -> BillRun:
    """A few households pay money in ahead; the community turns prepaid auto-offset on;
    the manager bills this month's tank cleaning (once, 30 yuan a home): the run's bills
    of those households are paid from their balances, one of them only in part."""
    for unit, amount_fen in zip(units, DEPOSITS_FEN, strict=False):
        prepaid_deposit(acting_user=users["cashier"], unit=unit, amount_fen=amount_fen,
                        channel=Channel.CASH, idempotency_key=f"demo:ahead:{unit.pk}")
    BillingSettings.objects.filter(community=community).update(auto_offset_prepaid=True)
    today = timezone.localdate()
    month = month_start(today)
    standard = _one_time_standard(community, users["manager"], month)
    binding_create(acting_user=users["manager"], standard=standard, scope="community",
                   start_date=month, end_date=last_day(month))
    run, _preview = bill_run_commit(acting_user=users["manager"], community_id=community.pk,
                                    period_key=f"{month:%Y-%m}",
                                    fee_item_ids=[standard.fee_item_id], today=today)
    # The offset runs once the run commits; the demo loads in one transaction, so it is
    # run here (it is idempotent per unit: the commit hook finds nothing more to do).
    bill_run_offset(acting_user=users["manager"], run_id=run.pk)
    return run


def _one_time_standard(community: Community, manager, month: dt.date) -> ChargeStandard:
    item = fee_item_create(acting_user=manager, community=community, name=ONE_TIME_ITEM,
                           category=FeeItem.Category.OTHER, sort_order=5)
    standard = standard_create(acting_user=manager, fee_item=item, name="每户一次",
                               method=ChargeStandard.Method.FIXED_UNIT,
                               cycle=ChargeStandard.Cycle.MONTHLY,
                               due_rule=ChargeStandard.DueRule.DAY_OF_MONTH,
                               due_day_of_month=31)
    standard_rate_add(acting_user=manager, standard=standard, effective_from=month,
                      unit_price=ONE_TIME_PRICE)
    return standard


__all__ = ["Exceptions", "load_exceptions"]
