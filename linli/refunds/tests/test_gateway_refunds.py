"""Refunds through the real WeChat Pay and Alipay adapters and the live simulators:
timeouts after the gateway accepted, duplicate and out-of-order results, lost
notifications, abnormal and closed refunds, and two refunds of one payment at once
(money and concurrency: run on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.payments.models import Channel, MerchantAccount
from linli.payments.notifications import notification_receive
from linli.refunds.janitor import janitor_run
from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.payouts import payout_send, refund_execute, refund_record_counter
from linli.refunds.services import RefundError, refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok, refund_entries

A = RefundApplication.Status
P = RefundPayout.Status


def wechat_world(sim, sink) -> World:
    world = World()
    fields = sim.provision_merchant()
    fields.pop("notify_url")
    fields.pop("channel")
    world.wechat = MerchantAccount.objects.create(
        community=world.community, channel=Channel.WECHAT, notify_base_url=sink.url, **fields)
    world.sim = sim
    return world


def paid(world, amount_bills=("next",)):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, [bills[k] for k in amount_bills], account=world.wechat)
    return unit, owner, bills, payment


def approved(world, owner, payment, lines) -> RefundApplication:
    application = refund_apply(acting_user=owner, payment=payment, reason="搬走了", lines=lines)
    return refund_approve(acting_user=world.manager, application=application)


def sim_refunds(sim, out_trade_no: str) -> list:
    return [r for r in sim.refunds.values() if r.out_trade_no == out_trade_no]


def deliver_refund_notifications(world, sink, since: int) -> list:
    """Feed the refund notifications the simulator sent (after ``since``) to our
    endpoint's handler, as the gateway would; returns the answers."""
    answers = []
    for received in sink.received[since:]:
        if b'"refund"' not in received.body and b"REFUND." not in received.body:
            continue
        answers.append(notification_receive(world.wechat, headers=received.headers,
                                            body=received.body, remote_addr="127.0.0.1"))
    return answers


@pytest.mark.postgres
@pytest.mark.django_db
def test_timeout_after_the_gateway_accepted_then_retry_refunds_once(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    wechat_sim.inject("refund_error_after_accept")
    payout = refund_execute(application.pk)
    assert payout.status == P.PENDING and "SYSTEM_ERROR" in payout.error
    assert len(sim_refunds(wechat_sim, payout.order.out_trade_no)) == 1  # it was accepted
    # The janitor sends it again a minute later, with the same number.
    janitor_run(now=timezone.now() + dt.timedelta(minutes=2))
    payout.refresh_from_db()
    assert payout.status == P.PROCESSING and payout.attempts == 2
    refunds = sim_refunds(wechat_sim, payout.order.out_trade_no)
    assert [r.out_refund_no for r in refunds] == [payout.out_refund_no]
    since = len(sink.received)
    wechat_sim.set_refund_status(payout.out_refund_no, "SUCCESS")
    sink.wait_for(since + 1)
    answers = deliver_refund_notifications(world, sink, since)
    assert [a.status for a in answers] == [204]
    payout.refresh_from_db()
    assert payout.status == P.SUCCESS
    assert len(refund_entries()) == 1
    assert RefundApplication.objects.get(pk=application.pk).status == A.REFUNDED
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db
def test_duplicate_and_out_of_order_results_end_in_one_state(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    payout = refund_execute(application.pk)
    assert payout.status == P.PROCESSING
    # ABNORMAL then SUCCESS at the gateway, each notified twice, delivered newest first.
    wechat_sim.hold_notifications()
    wechat_sim.inject("notify_duplicate", 2)
    since = len(sink.received)
    wechat_sim.set_refund_status(payout.out_refund_no, "ABNORMAL")
    wechat_sim.set_refund_status(payout.out_refund_no, "SUCCESS")
    wechat_sim.release_notifications("reverse")
    sink.wait_for(since + 4)
    answers = deliver_refund_notifications(world, sink, since)
    assert [a.status for a in answers] == [204] * 4
    # And a query (the janitor) after all that.
    payout_send(payout.pk)
    payout.refresh_from_db()
    assert payout.status == P.SUCCESS
    assert len(refund_entries()) == 1
    application.refresh_from_db()
    assert application.status == A.REFUNDED and not application.attention_reason
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db
def test_abnormal_refund_goes_back_to_staff_and_ledger_waits(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    payout = refund_execute(application.pk)
    entries_before = JournalEntry.objects.count()
    since = len(sink.received)
    wechat_sim.set_refund_status(payout.out_refund_no, "ABNORMAL")
    sink.wait_for(since + 1)
    deliver_refund_notifications(world, sink, since)
    application.refresh_from_db()
    assert application.status == A.ATTENTION
    assert application.attention_reason  # the gateway's reason, for staff
    assert JournalEntry.objects.count() == entries_before  # only the reservation so far
    assert bills["next"].__class__.objects.get(pk=bills["next"].pk).status == "paid"
    check_ok()
    # The cashier pays it back in cash: now, and only now, the ledger moves.
    cash = refund_record_counter(acting_user=world.cashier, application=application,
                                 channel=Channel.CASH, reference="现金退还")
    payout.refresh_from_db()
    assert payout.status == P.ABANDONED and cash.status == P.SUCCESS
    [entry] = refund_entries()
    assert {(ln.account, ln.side) for ln in entry.lines.all()} == {
        (chart.REFUNDS_PAYABLE, "D"), (chart.CASH, "C")}
    assert RefundApplication.objects.get(pk=application.pk).status == A.REFUNDED
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db
def test_lost_notifications_found_by_query_closed_refund_retried_with_a_new_number(
        wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    application = approved(world, owner, payment, {bills["next"].pk: 10000})
    first = refund_execute(application.pk)
    wechat_sim.set_refund_status(first.out_refund_no, "CLOSED")  # notification lost
    later = timezone.now() + dt.timedelta(minutes=2)
    janitor_run(now=later)
    first.refresh_from_db()
    application.refresh_from_db()
    assert first.status == P.FAILED and application.status == A.ATTENTION
    assert not refund_entries()
    from linli.refunds.payouts import refund_retry

    second = refund_retry(acting_user=world.manager, application=application)
    assert second.out_refund_no != first.out_refund_no and second.status == P.PROCESSING
    wechat_sim.set_refund_status(second.out_refund_no, "SUCCESS")  # lost again
    janitor_run(now=later + dt.timedelta(minutes=2))
    second.refresh_from_db()
    assert second.status == P.SUCCESS
    statuses = sorted(r.status for r in sim_refunds(wechat_sim, second.order.out_trade_no))
    assert statuses == ["CLOSED", "SUCCESS"]
    assert len(refund_entries()) == 1
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_partial_refunds_of_60_on_100_at_once(wechat_sim, sink):
    world = wechat_world(wechat_sim, sink)
    unit, owner, bills, payment = paid(world)
    bill = bills["next"].pk

    # Two owners' applications at the same moment: one is refused (the payment's lock).
    results = in_threads(2, lambda i: refund_apply(acting_user=owner, payment=payment,
                                                   reason=f"第{i}次", lines={bill: 6000}))
    assert sorted(type(r).__name__ for r in results) == ["RefundApplication", "RefundError"]

    # Two approved refunds executed at the same moment (say both were approved before
    # the rule existed): the second is refused before any gateway call, and waits for
    # staff with the reason (never "approved" and retried for ever).
    first = next(r for r in results if isinstance(r, RefundApplication))
    refund_approve(acting_user=world.manager, application=first)
    second = RefundApplication.objects.create(
        community=world.community, unit=unit, payment=payment, amount_fen=6000,
        reason="并发", status=A.APPROVED, approver_role="manager")
    second.lines.create(bill_id=bill, fee_item=world.property, basis="future",
                        amount_fen=6000)
    outcomes = in_threads(2, lambda i: refund_execute([first.pk, second.pk][i]))
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "RefundPayout"]
    refused = RefundApplication.objects.get(status=A.ATTENTION)
    assert "¥60.00" in refused.attention_reason  # the reason, in yuan
    order_no = RefundPayout.objects.get().order.out_trade_no
    assert sum(r.refund for r in sim_refunds(wechat_sim, order_no)) == 6000
    assert len(sim_refunds(wechat_sim, order_no)) == 1


def in_threads(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except RefundError as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db
def test_alipay_error_after_accept_then_retry_refunds_once(alipay_sim, sink):
    """Alipay refunds synchronously; an error after it accepted leaves the payout to
    be sent again with the same out_request_no, which refunds nothing more."""
    world = World()
    fields = alipay_sim.provision_merchant()
    fields.pop("notify_url")
    fields.pop("channel")
    world.alipay = MerchantAccount.objects.create(
        community=world.community, channel=Channel.ALIPAY, notify_base_url=sink.url, **fields)
    world.sim = alipay_sim
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, [bills["next"], bills["later"]], account=world.alipay)
    application = approved(world, owner, payment, {bills["later"].pk: 10000})
    alipay_sim.inject("refund_error_after_accept")
    payout = refund_execute(application.pk)
    assert payout.status == P.PENDING and payout.error
    assert not refund_entries()
    janitor_run(now=timezone.now() + dt.timedelta(minutes=2))
    payout.refresh_from_db()
    assert payout.status == P.SUCCESS and payout.attempts == 2
    trade = alipay_sim.trades[(world.alipay.app_id, payout.order.out_trade_no)]
    assert trade.refunded_fen == 10000 and len(trade.refunds) == 1
    assert len(refund_entries()) == 1
    check_ok()
