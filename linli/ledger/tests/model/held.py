"""The steps of the state-machine test about money held in between (``test_money_model``):
anomalies that hold money in suspense and their resolutions, refunds of held money
through the channel, and which of Linli's refunds went to the channel on each trade —
what a channel's later report that the trade was refunded counts as Linli's own."""

from __future__ import annotations

from unittest import mock

from linli.payments.auto_refunds import (
    order_refund_retry,
    order_refund_settle_at_counter,
    order_refund_settle_to_prepaid,
    refund_send,
)
from linli.payments.gateways.base import RefundState, RefundStatus
from linli.payments.gateways.sandbox import SandboxGateway
from linli.payments.models import Channel, OrderRefund, PaymentAnomaly
from linli.payments.permissions import ResolutionError
from linli.payments.resolutions import anomaly_resolve

from .reference import MApplication
from .world import refused


class HeldMoney:
    """Mixed into ``steps.Steps`` (``self.w``: the world, ``self.m``: the model)."""

    anomalies: list[int]
    trade_of: dict[int, str]  # an online payment → its order's out_trade_no

    # --- Linli's refunds through the channel, per trade -----------------------------------
    def _sent(self, ma: MApplication, at_channel: bool) -> None:
        """An owner's refund ``ma`` went (or may still go) to the channel — paid, or
        abnormal — or it did not (refused, failed for good, given up for another way)."""
        if ma.channel == Channel.SANDBOX:
            self.m.channel_refund(self.trade_of[ma.payment], f"app{ma.pk}",
                                  ma.amount if at_channel else 0)

    def _sent_held(self, refund: OrderRefund, at_channel: bool) -> None:
        """The same for a refund of held money (pending, sent, paid: yes; failed or
        settled another way: no)."""
        self.m.channel_refund(refund.out_trade_no, f"or{refund.pk}",
                              refund.amount_fen if at_channel else 0)

    def _held_by_outside_refund(self, out_trade_no: str, amount: int, applied) -> None:
        """A trade reported paid and refunded before Linli recorded it: what the outside
        refund did not take back is held by its anomaly until staff resolve it."""
        held = self.m.held_after_outside_refund(out_trade_no, amount, amount)
        assert applied.anomaly is not None
        assert applied.anomaly.kind == PaymentAnomaly.Kind.REFUNDED_OUTSIDE
        assert applied.anomaly.suspense_fen == held, (applied.anomaly.suspense_fen, held)
        if held:
            assert applied.anomaly.is_open
            self.m.suspense[applied.anomaly.pk] = held
            self.anomalies.append(applied.anomaly.pk)

    # --- anomalies: money held until staff resolve it --------------------------------------
    def anomaly_resolve(self, which: int, way: str, unit: int) -> None:
        open_ = [pk for pk in self.anomalies if pk in self.m.suspense]
        if not open_:
            return
        pk = open_[which % len(open_)]
        anomaly = PaymentAnomaly.objects.get(pk=pk)
        fen, target = self.m.suspense[pk], self.unit(unit)
        if way == "apply_bills":
            ids = [b.pk for b in self.m.open_bills(target.pk)]
            if not ids:
                refused(ResolutionError, self._resolve, anomaly, way, unit=target)
                return
            self._resolve(anomaly, way, unit=target)
            self.m.pay(target.pk, ids, fen)
        elif way == "to_prepaid":
            self._resolve(anomaly, way, unit=target)
            self.m.pay(target.pk, [], fen)
        elif way == "refund":
            self._resolve(anomaly, way)
            refund = OrderRefund.objects.get(anomaly_id=pk)
            assert refund.amount_fen == fen
            self.m.order_refunds[refund.pk] = fen
            self._sent_held(refund, True)
        else:  # written off: asked by one person, approved by another
            asker, approver = ((self.w.clerk, self.w.manager) if unit % 2
                               else (self.w.manager, self.w.clerk))
            self._resolve(anomaly, way, user=asker)
            assert PaymentAnomaly.objects.get(pk=pk).is_open  # asked, not done
            refused(ResolutionError, self._resolve, anomaly, way, user=asker)
            self._resolve(anomaly, way, user=approver)
        assert not PaymentAnomaly.objects.get(pk=pk).is_open
        del self.m.suspense[pk]

    def _resolve(self, anomaly, way: str, *, unit=None, user=None):
        return anomaly_resolve(acting_user=user or self.w.clerk, anomaly=anomaly,
                               resolution=way, reason="查明", unit=unit)

    def channel_refund_send(self, which: int, outcome: str) -> None:
        """The worker sends a refund of held money; the channel pays it or refuses."""
        pending = sorted(OrderRefund.objects.filter(
            pk__in=list(self.m.order_refunds), status=OrderRefund.Status.PENDING)
            .values_list("pk", flat=True))
        if not pending:
            return
        pk = pending[which % len(pending)]
        if outcome == "success":
            answer = RefundStatus(out_refund_no="", state=RefundState.SUCCESS,
                                  refund_fen=self.m.order_refunds[pk])
        else:
            answer = RefundStatus(out_refund_no="", state=RefundState.CLOSED,
                                  reason="ACCOUNT_FROZEN 收款账户已冻结")
        with mock.patch.object(SandboxGateway, "refund", lambda _self, request: answer):
            refund = refund_send(pk)
        if outcome == "success":
            assert refund.status == OrderRefund.Status.SUCCESS
            del self.m.order_refunds[pk]
        else:  # failed: still payable, waiting for staff
            assert refund.status == OrderRefund.Status.FAILED
            self._sent_held(refund, False)

    def channel_refund_settle(self, which: int, how: str, unit: int) -> None:
        """Staff act on a refund of held money that the channel refused."""
        failed = sorted(OrderRefund.objects.filter(
            pk__in=list(self.m.order_refunds), status=OrderRefund.Status.FAILED)
            .values_list("pk", flat=True))
        if not failed:
            return
        refund = OrderRefund.objects.get(pk=failed[which % len(failed)])
        fen = self.m.order_refunds[refund.pk]
        if how == "retry":
            order_refund_retry(acting_user=self.w.clerk, refund=refund, reason="再试")
            assert OrderRefund.objects.get(pk=refund.pk).status == OrderRefund.Status.PENDING
            self._sent_held(refund, True)
            return
        if how == "to_prepaid":
            order_refund_settle_to_prepaid(acting_user=self.w.clerk, refund=refund,
                                           reason="业主同意转预存")
            self.m.prepaid[refund.unit_id] += fen
        else:
            order_refund_settle_at_counter(acting_user=self.w.clerk, refund=refund,
                                           channel=OrderRefund.SettledBy.CASH,
                                           reason="柜台退现金")
        assert OrderRefund.objects.get(pk=refund.pk).status == OrderRefund.Status.SETTLED
        del self.m.order_refunds[refund.pk]
        self._sent_held(refund, False)
