"""Policy, applications and review, and what a refund changes: through the sandbox
gateway, the prepaid balance and the counter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from linli.billing.models import Bill
from linli.ledger import chart
from linli.ledger.selectors import balances_by_fee_item
from linli.payments.models import Channel, PrepaidWallet
from linli.payments.services import prepaid_deposit
from linli.receipts.models import Receipt
from linli.refunds.models import RefundApplication, RefundLine, RefundPayout, RefundPolicy
from linli.refunds.payouts import refund_execute, refund_record_counter
from linli.refunds.selectors import (
    collected_by_fee_item,
    line_allowance,
    policy_for,
    policy_text,
    refundable_for_payment,
)
from linli.refunds.services import RefundError, refund_apply, refund_approve, refund_reject
from linli.refunds.tests.helpers import World, check_ok, refund_entries, reserved_accounts

pytestmark = pytest.mark.django_db
A = RefundApplication.Status


@pytest.fixture
def world():
    return World()


def apply_next_month(world, unit, owner, payment, **kw):
    bill = world.bills(unit)["next"]
    return refund_apply(acting_user=owner, payment=payment, reason="搬家",
                        lines={bill.pk: bill.amount_fen}, **kw)


# --- policy and what is refundable -------------------------------------------------------


def test_fee_item_policy_overrides_the_community_default(world):
    parking_policy = RefundPolicy.objects.create(community=world.community,
                                                 fee_item=world.parking, refundable=False)
    assert policy_for(world.community.pk, world.parking.pk) == parking_policy
    assert policy_for(world.community.pk, world.property.pk) == world.policy
    assert policy_text(parking_policy) == ["These fees are not refundable."]


def test_refundable_lines_say_why_not(world):
    unit, _owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, bills.values())
    options = refundable_for_payment(payment)
    by_period = {o.bill.period_key: o for o in options.lines}
    assert by_period[bills["next"].period_key].max_fen == 10000
    assert by_period[bills["later"].period_key].max_fen == 10000
    assert by_period[bills["now"].period_key].max_fen == 0
    assert "started" in by_period[bills["now"].period_key].reason
    assert by_period[bills["past"].period_key].max_fen == 0
    assert "passed" in by_period[bills["past"].period_key].reason
    assert options.max_fen == 20000


def test_pro_rata_refunds_only_unused_days_rounded_down(world):
    world.policy.prorata = True
    unit, _owner = world.unit()
    bill = world.bills(unit)["now"]
    day = bill.period_start + dt.timedelta(days=9)  # 10 days used
    total = (bill.period_end - bill.period_start).days + 1
    basis, allowed, _why = line_allowance(world.policy, bill, 10000, day)
    assert basis == RefundLine.Basis.PRORATA
    assert allowed == 10000 * (total - 10) // total
    assert line_allowance(world.policy, bill, 10000, bill.period_end)[1] == 0


# --- applying: refused with the reason, nothing written --------------------------------


def test_owner_cannot_apply_for_someone_elses_payment(world):
    unit, _owner = world.unit()
    _other_unit, other_owner = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    with pytest.raises(RefundError, match="may not apply"):
        apply_next_month(world, unit, other_owner, payment)
    assert not RefundApplication.objects.exists()


def test_owner_cannot_apply_past_the_window(world):
    unit, owner = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    late = timezone.localdate() + dt.timedelta(days=world.policy.window_days + 1)
    with pytest.raises(RefundError, match="within 365 days"):
        apply_next_month(world, unit, owner, payment, today=late)
    assert not RefundApplication.objects.exists()


def test_owner_cannot_apply_for_more_than_the_policy_allows(world):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, [*bills.values(),
                                      *world.bills(unit, item=world.parking).values()])
    with pytest.raises(RefundError, match="At most"):
        refund_apply(acting_user=owner, payment=payment, reason="x",
                     lines={bills["next"].pk: 10001})
    with pytest.raises(RefundError, match="started"):
        refund_apply(acting_user=owner, payment=payment, reason="x",
                     lines={bills["now"].pk: 100})
    RefundPolicy.objects.create(community=world.community, fee_item=world.parking,
                                refundable=False)
    parking = world.bills(unit, item=world.parking)["next"]
    with pytest.raises(RefundError, match="not refundable"):
        refund_apply(acting_user=owner, payment=payment, reason="x",
                     lines={parking.pk: 100})
    first = refund_apply(acting_user=owner, payment=payment, reason="x",
                         lines={bills["next"].pk: 6000})
    with pytest.raises(RefundError, match="At most"):  # the open application counts
        refund_apply(acting_user=owner, payment=payment, reason="x",
                     lines={bills["next"].pk: 4001})
    assert list(RefundApplication.objects.all()) == [first]


# --- review --------------------------------------------------------------------------------


def test_a_cashier_cannot_approve_above_their_limit(world):
    world.policy.approver_role = "cashier"
    world.policy.second_approval_above_fen = 15000
    world.policy.second_approver_role = "manager"
    world.policy.save()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, bills.values())
    small = refund_apply(acting_user=owner, payment=payment, reason="x",
                         lines={bills["next"].pk: 10000})
    big_payment = world.pay_online(unit, world.bills(unit, item=world.parking).values())
    parking = world.bills(unit, item=world.parking)
    big = refund_apply(acting_user=owner, payment=big_payment, reason="x",
                       lines={parking["next"].pk: 5000, parking["later"].pk: 5000})
    assert not big.needs_second  # 100 yuan ≤ 150: one approval
    refund_approve(acting_user=world.cashier, application=small)
    assert RefundApplication.objects.get(pk=small.pk).status == A.APPROVED
    # Above the limit: the cashier's approval is only the first; the cashier cannot give
    # the second, the manager can.
    world.policy.second_approval_above_fen = 5000
    world.policy.save()
    refund_reject(acting_user=world.manager, application=big, note="重新申请")
    big = refund_apply(acting_user=owner, payment=big_payment, reason="x",
                       lines={parking["next"].pk: 5000, parking["later"].pk: 5000})
    assert big.needs_second
    refund_approve(acting_user=world.cashier, application=big)
    assert RefundApplication.objects.get(pk=big.pk).status == A.AWAITING_SECOND
    with pytest.raises(RefundError, match="must be approved by"):
        refund_approve(acting_user=world.cashier, application=big)
    refund_approve(acting_user=world.manager, application=big)
    assert RefundApplication.objects.get(pk=big.pk).status == A.APPROVED


def test_manager_only_policy_refuses_a_cashier(world):
    unit, owner = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    application = apply_next_month(world, unit, owner, payment)
    with pytest.raises(RefundError, match="must be approved by"):
        refund_approve(acting_user=world.cashier, application=application)
    assert RefundApplication.objects.get(pk=application.pk).status == A.SUBMITTED


def test_rejection_needs_a_note_and_ends_the_application(world):
    unit, owner = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    application = apply_next_month(world, unit, owner, payment)
    with pytest.raises(RefundError, match="why"):
        refund_reject(acting_user=world.manager, application=application, note="")
    refund_reject(acting_user=world.manager, application=application, note="已入住")
    application.refresh_from_db()
    assert application.status == A.REJECTED and application.decision_note == "已入住"
    # Rejected applications free the amount again.
    assert refundable_for_payment(payment).max_fen == 20000


# --- paying back and what changes ------------------------------------------------------------


def test_sandbox_refund_changes_only_the_refunded_line(world):
    unit, owner = world.unit()
    bills = world.bills(unit)
    parking = world.bills(unit, item=world.parking)
    payment = world.pay_online(unit, [*bills.values(), *parking.values()])
    revenue_before = balances_by_fee_item(account=chart.REVENUE,
                                          community_id=world.community.pk)
    collected_before = collected_by_fee_item(community_id=world.community.pk,
                                             period_key=bills["next"].period_key)
    application = apply_next_month(world, unit, owner, payment)
    refund_approve(acting_user=world.manager, application=application)
    assert not refund_entries()  # nothing moves before the money goes
    payout = refund_execute(application.pk)
    assert payout.status == RefundPayout.Status.SUCCESS
    application.refresh_from_db()
    assert application.status == A.REFUNDED
    statuses = {b.pk: b.status for b in Bill.objects.filter(unit=unit)}
    assert statuses.pop(bills["next"].pk) == Bill.Status.REFUNDED
    assert set(statuses.values()) == {Bill.Status.PAID}
    revenue_after = balances_by_fee_item(account=chart.REVENUE, community_id=world.community.pk)
    assert revenue_after[world.property.pk] == revenue_before[world.property.pk] - 10000
    assert revenue_after[world.parking.pk] == revenue_before[world.parking.pk]
    collected = collected_by_fee_item(community_id=world.community.pk,
                                      period_key=bills["next"].period_key)
    assert collected[world.property.pk].gross_fen == 10000
    assert collected[world.property.pk].refunded_fen == 10000
    assert collected[world.property.pk].net_fen == 0
    assert collected[world.parking.pk] == collected_before[world.parking.pk]
    [entry] = refund_entries()
    accounts = {(line.account, line.side): line.amount_fen for line in entry.lines.all()}
    assert accounts == {(chart.REFUNDS_PAYABLE, "D"): 10000,
                        (chart.CLEARING_SANDBOX, "C"): 10000}
    assert reserved_accounts(application) == {(chart.REVENUE, "D"): 10000,
                                              (chart.REFUNDS_PAYABLE, "C"): 10000}
    voucher = payout.voucher
    assert voucher.number.startswith("TK-") and voucher.receipt == Receipt.objects.get(
        payment=payment)
    assert voucher.snapshot["receipt_number"] == voucher.receipt.number
    check_ok()
    # Executing again (a duplicate task) changes nothing.
    refund_execute(application.pk)
    assert len(refund_entries()) == 1
    check_ok()


def test_partial_then_rest_never_beyond_the_payment(world):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, [bills["next"]])
    first = refund_apply(acting_user=owner, payment=payment, reason="x",
                         lines={bills["next"].pk: 4000})
    refund_approve(acting_user=world.manager, application=first)
    refund_execute(first.pk)
    assert Bill.objects.get(pk=bills["next"].pk).status == Bill.Status.PARTIALLY_REFUNDED
    second = refund_apply(acting_user=owner, payment=payment, reason="x",
                          lines={bills["next"].pk: 6000})
    refund_approve(acting_user=world.manager, application=second)
    refund_execute(second.pk)
    assert Bill.objects.get(pk=bills["next"].pk).status == Bill.Status.REFUNDED
    with pytest.raises(RefundError, match="refunded in full"):
        refund_apply(acting_user=owner, payment=payment, reason="x",
                     lines={bills["next"].pk: 1})
    check_ok()


def test_no_approval_needed_below_the_amount_pays_back_at_once(world, django_capture_on_commit_callbacks):
    world.policy.approval = RefundPolicy.Approval.ABOVE
    world.policy.approval_above_fen = 20000
    world.policy.save()
    unit, owner = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    with django_capture_on_commit_callbacks() as callbacks:
        application = apply_next_month(world, unit, owner, payment)
    assert application.status == A.APPROVED and len(callbacks) == 1
    refund_execute(application.pk)  # what the queued task does
    application.refresh_from_db()
    assert application.status == A.REFUNDED


def test_counter_payment_is_paid_back_by_the_cashier(world):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"], bills["later"]])
    application = refund_apply(acting_user=world.cashier, payment=payment,
                               reason="业主来电", lines={bills["later"].pk: 10000})
    assert application.by_staff
    refund_approve(acting_user=world.manager, application=application)
    assert refund_execute(application.pk) is None  # waits for the cashier
    assert not refund_entries()
    payout = refund_record_counter(acting_user=world.cashier, application=application,
                                   channel=Channel.CASH, reference="现金")
    [entry] = refund_entries()
    accounts = {(line.account, line.side): line.amount_fen for line in entry.lines.all()}
    assert accounts == {(chart.REFUNDS_PAYABLE, "D"): 10000, (chart.CASH, "C"): 10000}
    assert reserved_accounts(application) == {(chart.REVENUE, "D"): 10000,
                                              (chart.REFUNDS_PAYABLE, "C"): 10000}
    assert payout.voucher.receipt.payment == payment
    assert Bill.objects.get(pk=bills["later"].pk).status == Bill.Status.REFUNDED
    check_ok()


def test_prepaid_balance_refund_reserves_then_pays(world):
    unit, owner = world.unit()
    deposit = prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=30000,
                              channel=Channel.CASH, idempotency_key="dep-1")
    application = refund_apply(acting_user=owner, payment=deposit, reason="不住了",
                               prepaid_fen=20000)
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.TRANSFER, reference="T123")
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 10000
    application.refresh_from_db()
    assert application.status == A.REFUNDED
    with pytest.raises(RefundError):
        refund_apply(acting_user=owner, payment=deposit, reason="x", prepaid_fen=10001)
    check_ok()


def test_scenario_refund_of_one_item_leaves_other_items_figures_unchanged(world):
    """A month with two fee items, three units, payments online and at the counter:
    refunding property-fee lines (one whole, one part) changes the property figures of
    that period only."""
    units = [world.unit() for _ in range(3)]
    payments = []
    for i, (unit, _owner) in enumerate(units):
        bills = [*world.bills(unit).values(), *world.bills(unit, item=world.parking).values()]
        payments.append(world.pay_cash(unit, bills) if i == 1
                        else world.pay_online(unit, bills))
    figures = {key: collected_by_fee_item(community_id=world.community.pk, period_key=key)
               for key in world.months.values()}
    next_key = world.months["next"]
    for (unit, owner), payment, fen in ((units[0], payments[0], 10000),
                                        (units[1], payments[1], 2500)):
        bill = world.bills(unit)["next"]
        application = refund_apply(acting_user=owner, payment=payment, reason="x",
                                   lines={bill.pk: fen})
        refund_approve(acting_user=world.manager, application=application)
        if payment.channel == Channel.CASH:
            refund_record_counter(acting_user=world.cashier, application=application,
                                  channel=Channel.CASH)
        else:
            refund_execute(application.pk)
    for key in world.months.values():
        after = collected_by_fee_item(community_id=world.community.pk, period_key=key)
        for item_id, before in figures[key].items():
            if key == next_key and item_id == world.property.pk:
                assert after[item_id].gross_fen == before.gross_fen == 30000
                assert after[item_id].refunded_fen == 12500
                assert after[item_id].net_fen == 17500
            else:
                assert after[item_id] == before
    statuses = [world.bills(unit)["next"].status for unit, _ in units]
    assert statuses == [Bill.Status.REFUNDED, Bill.Status.PARTIALLY_REFUNDED, Bill.Status.PAID]
    check_ok()


def test_deposit_released_comes_out_of_deposits_held(world):
    from linli.billing.services import config

    unit, _owner = world.unit()
    item = config.fee_item_create(acting_user=None, community=world.community,
                                  name="装修押金", category="deposit")
    standard = config.standard_create(acting_user=None, fee_item=item, name="装修押金",
                                      method="one_off", cycle="once")
    [bill] = config.bill_issue_one_off(acting_user=None, standard=standard, unit_ids=[unit.pk],
                                       reason="装修", due_date=timezone.localdate(),
                                       amount_fen=50000)
    payment = world.pay_cash(unit, [bill])
    option = refundable_for_payment(payment).line(bill.pk)
    assert option.basis == RefundLine.Basis.DEPOSIT and option.max_fen == 50000
    application = refund_apply(acting_user=world.cashier, payment=payment, reason="装修完成",
                               lines={bill.pk: 50000})
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.TRANSFER, reference="T-1")
    [entry] = refund_entries()
    assert {(ln.account, ln.side, ln.amount_fen) for ln in entry.lines.all()} == {
        (chart.REFUNDS_PAYABLE, "D", 50000), (chart.BANK, "C", 50000)}
    assert reserved_accounts(application) == {(chart.DEPOSITS_HELD, "D"): 50000,
                                              (chart.REFUNDS_PAYABLE, "C"): 50000}
    check_ok()


def test_bills_paid_from_the_prepaid_balance_go_back_to_it(world):
    from linli.payments.services import prepaid_pay_bills

    unit, owner = world.unit()
    bills = world.bills(unit)
    prepaid_deposit(acting_user=world.cashier, unit=unit, amount_fen=10000,
                    channel=Channel.CASH, idempotency_key="dep-2")
    payment = prepaid_pay_bills(acting_user=world.cashier, unit=unit,
                                bill_ids=[bills["next"].pk], idempotency_key="off-1")
    assert payment.channel == Channel.PREPAID
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 0
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bills["next"].pk: 10000})
    refund_approve(acting_user=world.manager, application=application)
    payout = refund_execute(application.pk)
    assert payout.status == RefundPayout.Status.SUCCESS and payout.channel == Channel.PREPAID
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 10000
    assert Bill.objects.get(pk=bills["next"].pk).status == Bill.Status.REFUNDED
    check_ok()
