"""A whole billing cycle through the services, checked against the ledger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from linli import testing as t
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.selectors import bill_with_balance
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.billing.services.bill_run_reversal import bill_run_reverse
from linli.ledger import chart
from linli.ledger.selectors import account_balance
from linli.payments.models import Channel, PrepaidWallet
from linli.payments.services import payment_record, prepaid_deposit

TODAY = dt.date(2026, 11, 20)


def setup_property_fee(community, price="2.50"):
    item = FeeItem.objects.create(community=community, name="物业服务费", category="property")
    std = ChargeStandard.objects.create(
        fee_item=item, name="住宅", method=ChargeStandard.Method.BUILDING_AREA, due_days=30
    )
    StandardRate.objects.create(standard=std, effective_from=dt.date(2024, 1, 1), unit_price=Decimal(price))
    Binding.objects.create(standard=std, scope=Binding.Scope.COMMUNITY, start_date=dt.date(2024, 1, 1))
    return item, std


def check_ok():
    try:
        call_command("linli_check")
    except SystemExit as exc:
        pytest.fail(f"linli check failed ({exc.code})")


@pytest.mark.django_db
def test_configure_preview_commit_rerun_waive_offset_check(estate, django_capture_on_commit_callbacks):
    community = estate["a1"]
    admin = t.make_staff(estate["company_a"], "manager", [community])
    units = [estate["a1_unit"]] + [t.make_unit(community, area="100.00") for _ in range(3)]
    item, std = setup_property_fee(community)

    preview = bill_run_preview(community_id=community.pk, period_key="2026-11", today=TODAY)
    assert preview.bill_count == 4
    # 88.50 × 2.50 = 221.25 ; 100 × 2.5 = 250 (×3)
    assert preview.total_fen == 22125 + 3 * 25000
    assert Bill.objects.count() == 0  # preview writes nothing

    run, result = bill_run_commit(acting_user=admin, community_id=community.pk,
                                  period_key="2026-11", today=TODAY)
    assert (run.bill_count, run.total_fen) == (preview.bill_count, preview.total_fen)
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == preview.total_fen
    check_ok()

    again, _ = bill_run_commit(acting_user=admin, community_id=community.pk,
                               period_key="2026-11", today=TODAY)
    assert again is None  # nothing recorded
    assert Bill.objects.count() == 4

    bill = Bill.objects.get(unit=units[1])
    bill_adjustment_request(acting_user=admin, bill=bill, kind=BillAdjustment.Kind.WAIVER,
                            amount_fen=5000, reason="维修期间减免")
    assert bill_with_balance(bill.pk).owed_fen == 20000
    check_ok()

    # Prepaid: deposit ¥300 for unit 2, then enable auto-offset and bill December.
    prepaid_deposit(acting_user=admin, unit=units[2], amount_fen=30000, channel=Channel.CASH,
                    idempotency_key="dep-1")
    BillingSettings.objects.filter(community=community).update(auto_offset_prepaid=True)
    with django_capture_on_commit_callbacks(execute=True):  # offsets run once it commits
        bill_run_commit(acting_user=admin, community_id=community.pk, period_key="2026-12",
                        today=TODAY)
    dec = bill_with_balance(Bill.objects.get(unit=units[2], period_key="2026-12").pk)
    assert dec.status == Bill.Status.PAID
    assert PrepaidWallet.objects.get(unit=units[2]).balance_fen == 30000 - 25000
    check_ok()


@pytest.mark.django_db
def test_counter_payment_settles_principal_then_late_fee_and_keeps_excess(estate):
    community = estate["a1"]
    cashier = t.make_staff(estate["company_a"], "cashier", [community])
    item, std = setup_property_fee(community, price="1.00")
    ChargeStandard.objects.filter(pk=std.pk).update(late_fee_enabled=True, late_fee_daily_rate=Decimal("0.001"))
    bill_run_commit(acting_user=None, community_id=community.pk, period_key="2026-09", today=TODAY)
    bill = Bill.objects.get()
    # amount 88.50; due 2026-10-01; on 2026-10-11 late fee = 8850 × 0.001 × 10 = 88.5 → 89 fen
    payment = payment_record(
        acting_user=cashier, unit=bill.unit, channel=Channel.CASH, amount_fen=10000,
        bill_ids=[bill.pk], idempotency_key="p1",
        received_at=dt.datetime(2026, 10, 11, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    )
    alloc = payment.allocations.get()
    assert (alloc.principal_fen, alloc.late_fee_fen) == (8850, 89)
    assert PrepaidWallet.objects.get(unit=bill.unit).balance_fen == 10000 - 8850 - 89
    assert bill_with_balance(bill.pk).status == Bill.Status.PAID
    assert account_balance(account=chart.LATE_FEE_INCOME, community_id=community.pk) == 89
    # Same idempotency key: the same payment, nothing new.
    again = payment_record(acting_user=cashier, unit=bill.unit, channel=Channel.CASH,
                           amount_fen=10000, bill_ids=[bill.pk], idempotency_key="p1")
    assert again.pk == payment.pk
    check_ok()


@pytest.mark.django_db
def test_reverse_run_cancels_bills_and_clears_receivable(estate):
    community = estate["a1"]
    setup_property_fee(community)
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key="2026-11", today=TODAY)
    bill_run_reverse(acting_user=None, run=run, reason="价格录错")
    assert set(Bill.objects.values_list("status", flat=True)) == {Bill.Status.CANCELLED}
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == 0
    check_ok()
