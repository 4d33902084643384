"""Separation of duties for waivers, discounts and cancellations: whoever asked never
approves (superusers included), and a community can require finance above an amount."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied

from linli import testing as t
from linli.billing.models import Bill, BillAdjustment, BillingSettings
from linli.billing.selectors import bill_with_balance
from linli.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from linli.payments.tests.helpers import check_ok, fixed_fee, issue
from linli.staff.models import Role

pytestmark = pytest.mark.django_db
A = BillAdjustment.Status


def approver(user):
    user.user_permissions.add(Permission.objects.get(codename="approve_billadjustment"))
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def bill(estate):
    community = estate["a1"]
    fixed_fee(community, price="300.00")
    issue(community, "2026-10")
    BillingSettings.objects.filter(community=community).update(approval_threshold_fen=10000)
    return Bill.objects.get(unit=estate["a1_unit"])


def waive(user, bill, fen):
    return bill_adjustment_request(acting_user=user, bill=bill, kind="waiver", reason="维修",
                                   amount_fen=fen)


def test_a_superuser_cannot_approve_what_they_asked_for(estate, bill):
    """Failed on main: the superuser bypass let one person ask and approve."""
    root = User.objects.create_superuser("root-x", "r@example.com", t.PASSWORD)
    adjustment = waive(root, bill, 15000)
    assert adjustment.status == A.PENDING  # above the threshold: waits, even for root
    with pytest.raises(PermissionDenied):
        bill_adjustment_decide(acting_user=root, adjustment=adjustment, approve=True)
    assert bill_with_balance(bill.pk).owed_fen == 30000
    other = approver(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    bill_adjustment_decide(acting_user=other, adjustment=adjustment, approve=True)
    assert bill_with_balance(bill.pk).owed_fen == 15000
    check_ok()


def test_an_approver_asking_above_the_threshold_waits_for_someone_else(estate, bill):
    """Failed on main: someone who may approve had their own request applied at once."""
    manager = approver(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]]))
    assert waive(manager, bill, 5000).status == A.APPROVED  # within the threshold
    assert waive(manager, bill, 6000).status == A.PENDING  # 110 yuan on the bill: above
    assert bill_with_balance(bill.pk).owed_fen == 25000


def test_above_the_finance_threshold_only_finance_approves(estate, bill):
    community = estate["a1"]
    BillingSettings.objects.filter(community=community).update(finance_approval_above_fen=20000)
    service = t.make_staff(estate["company_a"], Role.SERVICE, [community])
    manager = approver(t.make_staff(estate["company_a"], Role.MANAGER, [community]))
    finance = approver(t.make_staff(estate["company_a"], Role.FINANCE, [community]))
    small, large = waive(service, bill, 15000), None
    bill_adjustment_decide(acting_user=manager, adjustment=small, approve=True)  # 150 ≤ 200
    large = waive(service, bill, 10000)  # 250 yuan on the bill, above finance's 200
    with pytest.raises(PermissionDenied, match="200.00"):
        bill_adjustment_decide(acting_user=manager, adjustment=large, approve=True)
    bill_adjustment_decide(acting_user=finance, adjustment=large, approve=True)
    large.refresh_from_db()
    assert (large.status, large.approved_by) == (A.APPROVED, finance)
    assert bill_with_balance(bill.pk).owed_fen == 5000
    check_ok()


def test_the_finance_threshold_holds_even_below_the_approval_threshold(estate, bill):
    community = estate["a1"]
    BillingSettings.objects.filter(community=community).update(
        approval_threshold_fen=50000, finance_approval_above_fen=8000)
    manager = approver(t.make_staff(estate["company_a"], Role.MANAGER, [community]))
    assert waive(manager, bill, 8000).status == A.APPROVED
    assert waive(manager, bill, 100).status == A.PENDING
