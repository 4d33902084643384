"""Refunds that cannot get stuck (issue 14): a failed channel refund waits for staff
with the channel's words and is retried with the same refund number; a refund paid
another way and then refunded by the channel too is recorded and resolved by posting; a
refund whose money is gone is refused at approval, or fails visibly and is cancelled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from linli.ledger import chart
from linli.ledger.selectors import account_balance, balances_by_unit
from linli.payments.models import Channel, PrepaidWallet
from linli.payments.services import prepaid_deposit, prepaid_pay_bills
from linli.refunds.actions import allowed
from linli.refunds.duplicates import (
    duplicate_approve_write_off,
    duplicate_ask_write_off,
    duplicate_from_prepaid,
    duplicate_recover,
)
from linli.refunds.janitor import janitor_run
from linli.refunds.models import DuplicateRefund, RefundApplication, RefundPayout
from linli.refunds.payouts import (
    refund_cancel,
    refund_execute,
    refund_record_counter,
    refund_retry,
)
from linli.refunds.services import RefundError, refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok, refund_entries
from linli.refunds.tests.test_gateway_refunds import (
    approved,
    deliver_refund_notifications,
    paid,
    sim_refunds,
    wechat_world,
)

A = RefundApplication.Status
P = RefundPayout.Status
D = DuplicateRefund.Status


def payable(world) -> int:
    return account_balance(account=chart.REFUNDS_PAYABLE, community_id=world.community.pk)


@pytest.mark.postgres
@pytest.mark.django_db
def test_refused_channel_refund_waits_for_staff_and_retry_reuses_its_number(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    assert payable(world) == 10000  # set aside at approval
    wechat_sim.inject("refund_not_enough")
    payout = refund_execute(application.pk)
    application.refresh_from_db()
    assert payout.status == P.FAILED and application.status == A.ATTENTION
    assert "余额不足" in application.attention_reason  # the channel's words, as given
    janitor_run(now=timezone.now() + dt.timedelta(minutes=5))  # never retried silently
    assert RefundPayout.objects.get().status == P.FAILED
    assert payable(world) == 10000 and not refund_entries()
    check_ok()
    again = refund_retry(acting_user=world.cashier, application=application)
    assert again.out_refund_no == payout.out_refund_no  # the same number at the channel
    wechat_sim.set_refund_status(again.out_refund_no, "SUCCESS")
    janitor_run(now=timezone.now() + dt.timedelta(minutes=10))
    again.refresh_from_db()
    assert again.status == P.SUCCESS
    assert [r.out_refund_no for r in sim_refunds(wechat_sim, again.order.out_trade_no)] == [
        payout.out_refund_no]
    assert RefundApplication.objects.get(pk=application.pk).status == A.REFUNDED
    assert payable(world) == 0 and len(refund_entries()) == 1
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db
def test_paid_another_way_then_late_channel_success_is_recorded_and_recovered(wechat_sim,
                                                                              sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    payout = refund_execute(application.pk)
    since = len(sink.received)
    wechat_sim.set_refund_status(payout.out_refund_no, "ABNORMAL")
    sink.wait_for(since + 1)
    deliver_refund_notifications(world, sink, since)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH, reference="现金")
    clearing_before = account_balance(account=chart.CLEARING_WECHAT,
                                      community_id=world.community.pk)
    # The merchant fixed the card at WeChat Pay: the channel refunds it as well.
    since = len(sink.received)
    wechat_sim.set_refund_status(payout.out_refund_no, "SUCCESS")
    sink.wait_for(since + 1)
    deliver_refund_notifications(world, sink, since)
    payout.refresh_from_db()
    assert payout.status == P.LATE_SUCCESS
    duplicate = DuplicateRefund.objects.get(payout=payout)
    assert duplicate.status == D.OPEN and duplicate.amount_fen == 10000
    assert account_balance(account=chart.CLEARING_WECHAT,
                           community_id=world.community.pk) == clearing_before - 10000
    assert balances_by_unit(account=chart.OTHER_RECEIVABLE,
                            community_id=world.community.pk)[unit.pk] == 10000
    check_ok()
    # The owner has no prepaid balance yet: refused with the reason, nothing moves.
    with pytest.raises(RefundError, match="prepaid balance is"):
        duplicate_from_prepaid(acting_user=world.manager, duplicate=duplicate)
    prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=15000,
                    channel=Channel.CASH, idempotency_key="dup-dep")
    duplicate_from_prepaid(acting_user=world.manager, duplicate=duplicate)
    duplicate.refresh_from_db()
    assert duplicate.status == D.FROM_PREPAID
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 5000
    assert not balances_by_unit(account=chart.OTHER_RECEIVABLE,
                                community_id=world.community.pk).get(unit.pk)
    with pytest.raises(RefundError, match="already resolved"):
        duplicate_recover(acting_user=world.cashier, duplicate=duplicate, channel="cash")
    check_ok()


def _duplicate(world, unit, owner, room_payment_bills):
    """A refund paid twice, made through the services with the results a gateway gives."""
    from linli.payments.gateways.base import RefundState, RefundStatus
    from linli.refunds.payouts import _payout_create, payout_settle

    bill = room_payment_bills
    payment = world.pay_online(unit, [bill])
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bill.pk: bill.amount_fen})
    refund_approve(acting_user=world.manager, application=application)
    payout = _payout_create(application.pk)
    payout_settle(payout.pk, RefundStatus(out_refund_no=payout.out_refund_no,
                                          state=RefundState.ABNORMAL, reason="退款异常"))
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH)
    payout_settle(payout.pk, RefundStatus(out_refund_no=payout.out_refund_no,
                                          state=RefundState.SUCCESS))
    return DuplicateRefund.objects.get(payout=payout)


@pytest.mark.django_db
def test_refund_paid_twice_recovered_in_cash_or_written_off_by_a_second_person():
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    first = _duplicate(world, unit, owner, bills["next"])
    duplicate_recover(acting_user=world.cashier, duplicate=first, channel=Channel.CASH,
                      reference="收回")
    assert DuplicateRefund.objects.get(pk=first.pk).status == D.RECOVERED
    second = _duplicate(world, unit, owner, bills["later"])
    duplicate_ask_write_off(acting_user=world.manager, duplicate=second, reason="业主失联")
    with pytest.raises(RefundError, match="someone else"):
        duplicate_approve_write_off(acting_user=world.manager, duplicate=second)
    with pytest.raises(RefundError, match="approved by finance"):
        duplicate_approve_write_off(acting_user=world.cashier, duplicate=second)
    duplicate_approve_write_off(acting_user=world.finance, duplicate=second)
    assert DuplicateRefund.objects.get(pk=second.pk).status == D.WRITTEN_OFF
    assert account_balance(account=chart.REFUND_LOSSES,
                           community_id=world.community.pk) == 10000
    check_ok()


@pytest.mark.django_db
def test_prepaid_refund_of_a_spent_balance_is_refused_at_approval():
    world = World()
    unit, owner = world.unit()
    deposit = prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=30000,
                              channel=Channel.CASH, idempotency_key="dep-spent")
    application = refund_apply(acting_user=owner, payment=deposit, reason="不住了",
                               prepaid_fen=20000)
    bills = world.bills(unit)
    prepaid_pay_bills(acting_user=world.cashier, unit=unit,
                      bill_ids=[bills["past"].pk, bills["now"].pk, bills["next"].pk],
                      idempotency_key="spend")
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 0
    with pytest.raises(RefundError, match="spent meanwhile"):
        refund_approve(acting_user=world.manager, application=application)
    application.refresh_from_db()
    assert application.status == A.SUBMITTED and application.first_approver is None
    assert payable(world) == 0
    check_ok()


@pytest.mark.django_db
def test_approved_refund_whose_money_went_fails_visibly_and_is_cancelled():
    """Approved before approvals set money aside (so nothing was reserved); its balance
    was spent since. The worker does not leave it "approved" for ever: staff see why,
    and cancelling it closes it."""
    world = World()
    unit, owner = world.unit()
    deposit = world.topup_online(unit, 20000)
    application = RefundApplication.objects.create(
        community=world.community, unit=unit, payment=deposit, kind="prepaid",
        amount_fen=20000, reason="旧申请", status=A.APPROVED, approver_role="manager",
        decided_at=timezone.now() - dt.timedelta(hours=1))
    application.lines.create(basis="prepaid", amount_fen=20000)
    bills = world.bills(unit)
    prepaid_pay_bills(acting_user=world.cashier, unit=unit, bill_ids=[bills["past"].pk],
                      idempotency_key="spend-old")
    assert refund_execute(application.pk) is None
    application.refresh_from_db()
    assert application.status == A.ATTENTION
    assert "spent meanwhile" in application.attention_reason
    assert janitor_run()["started"] == 0  # not picked up again and again
    with pytest.raises(RefundError, match="spent meanwhile"):
        refund_retry(acting_user=world.manager, application=application)
    refund_cancel(acting_user=world.manager, application=application, reason="余额已用于缴费")
    application.refresh_from_db()
    assert application.status == A.CANCELLED and application.cancelled_by == world.manager
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 10000
    check_ok()


@pytest.mark.django_db
def test_cancelling_an_approved_counter_refund_releases_what_was_set_aside():
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"]])
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bills["next"].pk: 10000})
    refund_approve(acting_user=world.manager, application=application)
    assert payable(world) == 10000
    check_ok()
    with pytest.raises(RefundError, match="why"):
        refund_cancel(acting_user=world.manager, application=application, reason="")
    refund_cancel(acting_user=world.manager, application=application, reason="业主不退了")
    assert payable(world) == 0
    assert RefundApplication.objects.get(pk=application.pk).status == A.CANCELLED
    with pytest.raises(RefundError, match="not approved"):
        refund_record_counter(acting_user=world.cashier, application=application,
                              channel=Channel.CASH)
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db
def test_abnormal_refund_retried_asks_again_with_the_same_number(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    payout = refund_execute(application.pk)
    wechat_sim.set_refund_status(payout.out_refund_no, "ABNORMAL")  # notification lost
    janitor_run(now=timezone.now() + dt.timedelta(minutes=2))
    application.refresh_from_db()
    assert application.status == A.ATTENTION and application.attention_reason
    assert {"retry", "pay_at_counter"} <= allowed(world.manager, application)
    assert "cancel" not in allowed(world.manager, application)  # money may still go
    with pytest.raises(RefundError, match="failed again"):  # still abnormal at WeChat
        refund_retry(acting_user=world.manager, application=application)
    wechat_sim.set_refund_status(payout.out_refund_no, "SUCCESS")  # fixed at the platform
    again = refund_retry(acting_user=world.manager, application=application)
    assert again.pk == payout.pk and again.status == P.SUCCESS
    assert len(sim_refunds(wechat_sim, payout.order.out_trade_no)) == 1
    assert RefundApplication.objects.get(pk=application.pk).status == A.REFUNDED
    assert payable(world) == 0
    check_ok()


@pytest.mark.django_db
def test_the_note_typed_in_the_retry_dialog_is_kept_in_the_history(wechat_sim, sink, client):
    from linli.core.models import AuditEvent

    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    wechat_sim.inject("refund_not_enough")
    refund_execute(application.pk)
    client.force_login(world.finance)
    response = client.post(f"/console/refunds/refundapplication/{application.pk}/retry/",
                           {"note": "商户账户已充值，重新发起退款", "_form_submitted": "on"})
    assert response.status_code == 302
    retried = AuditEvent.objects.get(object_id=str(application.pk), summary__startswith="refund retried")
    assert retried.summary == "refund retried: 商户账户已充值，重新发起退款"
    assert retried.changes == {"note": "商户账户已充值，重新发起退款"}
