"""The steps of the state-machine test (``test_money_model``): each calls the real
services as staff, a payer or a gateway would, and moves the reference model the way a
person would expect the money to move. A step that the model says must be refused is
asserted to be refused, with nothing written."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from linli.billing.models import Bill, BillAdjustment, BillRun
from linli.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from linli.billing.services.bill_run_reversal import BillRunReversalError, bill_run_reverse
from linli.payments.gateways.base import RefundRequest, RefundState, RefundStatus, TradeState
from linli.payments.gateways.base import TradeStatus as Trade
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.models import (
    COUNTER_CHANNELS,
    Channel,
    Payment,
    PaymentOrder,
)
from linli.payments.orders import Applied, order_cancel, trade_apply
from linli.refunds import services as refund_services
from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.payouts import (
    payout_settle,
    refund_cancel,
    refund_execute,
    refund_record_counter,
    refund_retry,
)
from linli.refunds.selectors import refundable_for_payment
from linli.refunds.services import RefundError, refund_apply

from .held import HeldMoney
from .reference import MApplication, MBill, Model
from .world import refused

A = RefundApplication.Status


@dataclass
class MOrder:
    pk: int
    out_trade_no: str
    amount: int
    unit: int
    bill_ids: list[int]
    trades: list[Trade] = field(default_factory=list)


@contextmanager
def channel_refund_answers(state: RefundState):
    """The channel answers a refund request with ``state`` (and refunds nothing)."""
    def answer(self, request: RefundRequest) -> RefundStatus:
        return RefundStatus(out_refund_no=request.out_refund_no, state=state,
                            reason="ACCOUNT_FROZEN 收款账户已冻结")

    with mock.patch.object(SandboxGateway, "refund", answer):
        yield


class Steps(HeldMoney):
    def __init__(self, world, model: Model):
        self.w, self.m = world, model
        self.orders: list[MOrder] = []
        self.payments: list[tuple[int, str, int]] = []  # refundable by their own route
        self.apps: list[MApplication] = []
        self.live_adjustments: dict[int, int] = {}  # adjustment → bill (pending or approved)
        self.refunded_at_channel: list[str] = []
        self.anomalies: list[int] = []      # anomalies holding money (opened by a step)
        self.trade_of: dict[int, str] = {}  # an online payment → its order's out_trade_no

    def unit(self, index: int):
        return self.w.units[index % len(self.w.units)]

    # --- what can be done now (the machine's preconditions) -------------------------------
    def anything_owed(self) -> bool:
        return any(b.owed > 0 for b in self.m.bills.values())

    def anything_to_offset(self) -> bool:
        return any(self.m.prepaid[b.unit] > 0 for b in self.m.bills.values() if b.owed > 0)

    def has_app(self, status: str) -> bool:
        return RefundApplication.objects.filter(
            pk__in=[a.pk for a in self.apps if not a.done], status=status).exists()

    def has_given_up(self) -> bool:
        return RefundPayout.objects.filter(status=RefundPayout.Status.ABANDONED).exists()

    def _adjusted(self) -> None:
        self.m.adjusted = set(self.live_adjustments.values())

    # --- billing --------------------------------------------------------------------------
    def bill_run(self, period: str) -> None:
        if period in self.m.runs:  # a rerun of a committed month issues nothing
            runs = BillRun.objects.count()
            run = self.w.bill_run(period)
            assert run is None and BillRun.objects.count() == runs
            return
        run = self.w.bill_run(period)
        self.m.runs[period] = run.pk
        bills = list(Bill.objects.filter(bill_run=run).order_by("pk"))
        assert sorted(b.unit_id for b in bills) == sorted(self.m.units)
        for bill in bills:
            assert bill.amount_fen == 10000
            self.m.bills[bill.pk] = MBill(pk=bill.pk, unit=bill.unit_id,
                                          due=(bill.due_date, bill.pk),
                                          charged=bill.amount_fen, run=run.pk)
        for unit in self.m.units:  # the community offsets new bills from prepaid balances
            ids = [b.pk for b in bills if b.unit_id == unit]
            if (fen := self.m.offset_amount(unit, ids)) > 0:
                self.m.pay(unit, ids, fen, from_prepaid=True, auto_offset=True)
                payment = Payment.objects.get(idempotency_key=f"offset:run{run.pk}:unit{unit}")
                assert payment.amount_fen == fen
                self.payments.append((payment.pk, Channel.PREPAID, unit))
                self.m.run_offsets.setdefault(run.pk, []).append(payment.pk)

    def reverse_run(self, period: str) -> None:
        run_pk = self.m.runs.get(period)
        if run_pk is None:
            return
        run = BillRun.objects.get(pk=run_pk)
        if self.m.reversal_blocked(run_pk, self.apps):
            refused(BillRunReversalError, bill_run_reverse, acting_user=self.w.manager,
                    run=run, reason="出错重开")
            return
        bill_run_reverse(acting_user=self.w.manager, run=run, reason="出错重开")
        self.m.reverse(period)

    def waiver_request(self, unit: int, which: int, quarters: int) -> None:
        bills = self.m.open_bills(self.unit(unit).pk)
        if not bills:
            return
        bill = bills[which % len(bills)]
        fen = max(1, bill.owed * quarters // 4)
        # The manager may not approve waivers; finance may, but never its own.
        asker = self.w.clerk if which % 2 else self.w.manager
        adjustment = bill_adjustment_request(
            acting_user=asker, bill=Bill.objects.get(pk=bill.pk),
            kind=BillAdjustment.Kind.WAIVER, reason="困难户减免", amount_fen=fen)
        assert adjustment.status == BillAdjustment.Status.PENDING
        self.m.pending_waivers[adjustment.pk] = (bill.pk, fen)
        self.live_adjustments[adjustment.pk] = bill.pk
        self._adjusted()

    def waiver_decide(self, which: int, approve: bool) -> None:
        if not self.m.pending_waivers:
            return
        pk = sorted(self.m.pending_waivers)[which % len(self.m.pending_waivers)]
        bill_pk, fen = self.m.pending_waivers[pk]
        adjustment = BillAdjustment.objects.get(pk=pk)
        approver = self.w.clerk
        if adjustment.requested_by_id == self.w.clerk.pk:
            refused(PermissionDenied, bill_adjustment_decide, acting_user=self.w.clerk,
                    adjustment=adjustment, approve=True)
            approver = self.w.second_approver
        if not approve:
            bill_adjustment_decide(acting_user=approver, adjustment=adjustment, approve=False,
                                   note="不符合条件")
            del self.m.pending_waivers[pk], self.live_adjustments[pk]
            self._adjusted()
        elif 0 < fen <= self.m.bills[bill_pk].owed:
            bill_adjustment_decide(acting_user=approver, adjustment=adjustment, approve=True)
            self.m.waive(pk)
        else:  # paid or waived meanwhile: more than the bill still owes
            refused(ValidationError, bill_adjustment_decide, acting_user=approver,
                    adjustment=adjustment, approve=True)

    # --- money in -------------------------------------------------------------------------
    def _some_open_bills(self, unit: int, first: int, n: int) -> list:
        bills = self.m.open_bills(unit)
        start = first % len(bills) if bills else 0
        return bills[start:start + n]

    def counter_payment(self, unit: int, first: int, n: int, amount: int) -> None:
        unit = self.unit(unit)
        bills = self._some_open_bills(unit.pk, first, n)
        payment = self.w.pay_counter(unit, bills, amount)
        self.m.pay(unit.pk, [b.pk for b in bills], amount)
        self.payments.append((payment.pk, Channel.CASH, unit.pk))

    def topup(self, unit: int, amount: int, online: bool) -> None:
        unit = self.unit(unit)
        if online:
            order = self.w.order(unit, topup_fen=amount)
            self.orders.append(MOrder(order.pk, order.out_trade_no, amount, unit.pk, []))
            self.notification(len(self.orders) - 1, "paid")
            return
        payment = self.w.deposit(unit, amount)
        self.m.pay(unit.pk, [], amount)
        self.payments.append((payment.pk, Channel.CASH, unit.pk))

    def order_create(self, unit: int, first: int, n: int) -> None:
        unit = self.unit(unit)
        bills = self._some_open_bills(unit.pk, first, n)
        if not bills:
            return
        order = self.w.order(unit, bills)
        assert order.amount_fen == sum(b.owed for b in bills)
        self.orders.append(MOrder(order.pk, order.out_trade_no, order.amount_fen, unit.pk,
                                  [b.pk for b in bills]))

    def notification(self, which: int, how: str) -> None:
        if not self.orders:
            return
        o = self.orders[which % len(self.orders)]
        if how == "duplicate":
            if o.trades:
                assert self._apply(o.trades[0]).outcome == Applied.DUPLICATE
            return
        if how == "late":  # the order was closed before the money came
            order_cancel(PaymentOrder.objects.get(pk=o.pk))
            how = "paid"
        if how == "paid":  # the payer pays at the channel
            trade = self.w.gateway.pay(o.out_trade_no)
            if any(t.transaction_id == trade.transaction_id for t in o.trades):
                assert self._apply(trade).outcome == Applied.DUPLICATE
                return
            self._paid(o, trade, refundable=True)
        elif how == "second":  # paid a second time (another transaction)
            self._paid(o, self._trade(o, TradeState.PAID, o.amount), refundable=False)
        elif how == "mismatch":  # money that is not the order's amount
            fen = o.amount - 1 if o.amount > 1 else o.amount + 1
            applied = self._apply(self._trade(o, TradeState.PAID, fen))
            assert applied.outcome == Applied.ANOMALY
            if applied.anomaly.suspense_fen:  # held until staff resolve it
                assert applied.anomaly.suspense_fen == fen
                self.m.suspense[applied.anomaly.pk] = fen
                self.anomalies.append(applied.anomaly.pk)
        elif how == "refunded_at_channel":  # paid, then refunded in full at the channel
            trade = self._trade(o, TradeState.REFUNDED, o.amount)
            self._held_by_outside_refund(o.out_trade_no, o.amount, self._apply(trade))
            self.refunded_at_channel.append(trade.transaction_id)

    def _trade(self, o: MOrder, state: TradeState, fen: int) -> Trade:
        return Trade(out_trade_no=o.out_trade_no, state=state,
                     transaction_id="SBXT" + secrets.token_hex(8).upper(), amount_fen=fen,
                     paid_at=timezone.now(),
                     refunded_fen=fen if state == TradeState.REFUNDED else 0)

    def _apply(self, trade: Trade) -> Applied:
        return trade_apply(self.w.account, trade, source="model")

    def _paid(self, o: MOrder, trade: Trade, *, refundable: bool) -> None:
        applied = self._apply(trade)
        assert applied.payment is not None and applied.payment.amount_fen == o.amount
        o.trades.append(trade)
        self.m.pay(o.unit, o.bill_ids, o.amount)
        if refundable:
            self.payments.append((applied.payment.pk, Channel.SANDBOX, o.unit))
            self.trade_of[applied.payment.pk] = o.out_trade_no

    def prepaid_offset(self, unit: int) -> None:
        unit = self.unit(unit)
        ids = [b.pk for b in self.m.open_bills(unit.pk)]
        fen = self.m.offset_amount(unit.pk, ids)
        if fen <= 0:
            return
        payment = self.w.offset(unit, [Bill(pk=pk) for pk in ids])
        assert payment is not None and payment.amount_fen == fen
        self.m.pay(unit.pk, ids, fen, from_prepaid=True)
        self.payments.append((payment.pk, Channel.PREPAID, unit.pk))

    # --- money back -----------------------------------------------------------------------
    def refund_at_once(self, which: int, part: int, outcome: str) -> None:
        """Applied for, approved and paid out one after the other."""
        count = len(self.apps)
        self.refund_apply(which, part)
        if len(self.apps) > count and not self.apps[-1].done:
            self.refund_approve(-1)
            self.refund_pay(-1, outcome)

    def refund_apply(self, which: int, part: int) -> None:
        if not self.payments:
            return
        payment_pk, channel, unit = self.payments[which % len(self.payments)]
        options = refundable_for_payment(Payment.objects.get(pk=payment_pk))
        if payment_pk in self.m.unwound:
            # Taken back by its run's reversal (its money is in the wallet again): nothing
            # of it may be refunded, or the owner would get the money twice.
            assert options.remaining_fen == 0 and not any(o.max_fen for o in options.lines)
            return
        lines = [o for o in options.lines if o.max_fen > 0]
        payment = Payment.objects.get(pk=payment_pk)
        if lines:
            fen = max(1, lines[0].max_fen // part)
            app = refund_apply(acting_user=self.w.clerk, payment=payment, reason="搬家",
                               lines={lines[0].bill.pk: fen})
            self.apps.append(MApplication(app.pk, unit, payment_pk, channel, fen,
                                          bill=lines[0].bill.pk,
                                          payment_fen=payment.amount_fen))
        else:
            fen = max(1, min(options.prepaid_max_fen, options.remaining_fen) // part)
            if min(options.prepaid_max_fen, options.remaining_fen) <= 0:
                return
            app = refund_apply(acting_user=self.w.clerk, payment=payment, reason="不住了",
                               prepaid_fen=fen)
            self.apps.append(MApplication(app.pk, unit, payment_pk, channel, fen, bill=None,
                                          payment_fen=payment.amount_fen))
        # Filed by staff: it always waits for someone else's approval.
        assert app.status == A.SUBMITTED

    def _app(self, which: int, status: str) -> tuple[MApplication, RefundApplication] | None:
        apps = [a for a in self.apps if not a.done]
        found = {a.pk: a for a in RefundApplication.objects.filter(
            pk__in=[a.pk for a in apps], status=status)}
        apps = [a for a in apps if a.pk in found]
        if not apps:
            return None
        ma = apps[which % len(apps)] if which >= 0 else apps[-1]
        if which < 0 and ma is not self.apps[-1]:
            return None
        return ma, found[ma.pk]

    def refund_approve(self, which: int) -> None:
        if (got := self._app(which, A.SUBMITTED)) is None:
            return
        ma, app = got
        if ma.payment in self.m.unwound:  # applied for before its run was reversed
            refused(RefundError, self.w.refund_approve, app)
            return
        # Whoever applied never approves.
        refused(RefundError, refund_services.refund_approve, acting_user=self.w.clerk,
                application=app)
        if not self.m.approvable(ma, self.apps):  # the money to refund is gone
            refused(RefundError, self.w.refund_approve, app)
            return
        self.w.refund_approve(app)
        self.m.reserve(ma)

    def refund_pay(self, which: int, outcome: str) -> None:
        if (got := self._app(which, A.APPROVED)) is None:
            return
        ma, app = got
        if ma.channel in COUNTER_CHANNELS:
            refund_record_counter(acting_user=self.w.cashier, application=app,
                                  channel=Channel.CASH)
        elif ma.channel == Channel.PREPAID or outcome == "success":
            refund_execute(app.pk)
        else:
            state = RefundState.CLOSED if outcome == "closed" else RefundState.ABNORMAL
            with channel_refund_answers(state):
                refund_execute(app.pk)
            assert RefundApplication.objects.get(pk=app.pk).status == A.ATTENTION
            ma.failure = outcome  # still set aside: refunds payable until paid or cancelled
            self._sent(ma, outcome == "abnormal")  # the channel may still pay it
            return
        assert RefundApplication.objects.get(pk=app.pk).status == A.REFUNDED
        self.m.refunded(ma)
        self._sent(ma, True)

    def refund_retry(self, which: int, how: str) -> None:
        """A refund that needs staff: retried, paid another way, or cancelled."""
        if (got := self._app(which, A.ATTENTION)) is None:
            return
        ma, app = got
        if how == "cancel":
            if ma.failure == "abnormal":  # the channel may still pay it: not cancellable
                refused(RefundError, refund_cancel, acting_user=self.w.clerk, application=app,
                        reason="业主不要了")
                return
            refund_cancel(acting_user=self.w.clerk, application=app, reason="业主不要了")
            self.m.cancelled(ma)
            self._sent(ma, False)
            return
        if how == "another_way":  # what the channel was sent is given up
            refund_record_counter(acting_user=self.w.cashier, application=app,
                                  channel=Channel.CASH)
            assert RefundApplication.objects.get(pk=app.pk).status == A.REFUNDED
            self.m.refunded(ma)
            self._sent(ma, False)
            return
        try:
            refund_retry(acting_user=self.w.clerk, application=app)
        except RefundError:
            # An abnormal refund is asked about by its number, which the channel never
            # received: it fails for good (and the next retry sends it again).
            assert ma.failure == "abnormal", ma
            assert RefundApplication.objects.get(pk=app.pk).status == A.ATTENTION
            ma.failure = "closed"
            self._sent(ma, False)
            return
        assert RefundApplication.objects.get(pk=app.pk).status == A.REFUNDED
        self.m.refunded(ma)
        self._sent(ma, True)

    def late_channel_success(self, which: int) -> None:
        """The channel refunds a payout that staff gave up and paid another way."""
        given_up = list(RefundPayout.objects.filter(status=RefundPayout.Status.ABANDONED,
                                                    order__isnull=False).order_by("pk"))
        if not given_up:
            return
        payout = given_up[which % len(given_up)]
        result = self.w.gateway.refund(RefundRequest(
            out_trade_no=payout.order.out_trade_no, out_refund_no=payout.out_refund_no,
            refund_fen=payout.amount_fen, total_fen=payout.payment.amount_fen))
        payout_settle(payout.pk, result, source="notification")
        ma = next(a for a in self.apps if a.pk == payout.application_id)
        self._sent(ma, True)  # the channel paid it after all
