"""Separation of duties (issue 14): whoever applied never approves (superusers too); a
community can require finance approval above an amount; staff applications always need
someone else; the console offers only the actions the state allows; and amounts people
read are in yuan."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType

from linli import testing as t
from linli.core.models import AuditEvent
from linli.payments.models import Channel
from linli.refunds.actions import allowed
from linli.refunds.models import RefundApplication
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import RefundError, refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok

pytestmark = pytest.mark.django_db
A = RefundApplication.Status


@pytest.fixture
def world():
    return World()


def test_one_manager_cannot_apply_approve_and_pay_out_alone(world):
    unit, _owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"]])
    application = refund_apply(acting_user=world.manager, payment=payment, reason="业主来电",
                               lines={bills["next"].pk: 10000})
    assert "approve" not in allowed(world.manager, application)
    with pytest.raises(RefundError, match="someone else must approve"):
        refund_approve(acting_user=world.manager, application=application)
    with pytest.raises(RefundError, match="not approved"):
        refund_record_counter(acting_user=world.manager, application=application,
                              channel=Channel.CASH)
    assert RefundApplication.objects.get(pk=application.pk).status == A.SUBMITTED
    other = t.make_staff(world.company, "manager", [world.community])
    assert "approve" in allowed(other, application)
    refund_approve(acting_user=other, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH)
    assert RefundApplication.objects.get(pk=application.pk).status == A.REFUNDED
    check_ok()


def test_a_superuser_is_no_exception(world):
    unit, _owner = world.unit()
    payment = world.pay_online(unit, [world.bills(unit)["next"]])
    root = User.objects.create_superuser("root-refunds", "r@example.com", t.PASSWORD)
    application = refund_apply(acting_user=root, payment=payment, reason="x",
                               lines={world.bills(unit)["next"].pk: 10000})
    with pytest.raises(RefundError, match="someone else must approve"):
        refund_approve(acting_user=root, application=application)


def test_staff_applications_are_never_approved_automatically(world):
    world.policy.approval = "above"
    world.policy.approval_above_fen = 50000
    world.policy.save()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"], bills["later"]])
    by_staff = refund_apply(acting_user=world.cashier, payment=payment, reason="x",
                            lines={bills["next"].pk: 10000})
    assert by_staff.status == A.SUBMITTED
    by_owner = refund_apply(acting_user=owner, payment=payment, reason="x",
                            lines={bills["later"].pk: 10000})
    assert by_owner.status == A.APPROVED


def test_finance_must_approve_above_the_communitys_amount(world):
    world.policy.finance_approval_above_fen = 5000
    world.policy.save()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, [bills["next"], bills["later"]])
    small = refund_apply(acting_user=owner, payment=payment, reason="x",
                         lines={bills["next"].pk: 5000})
    assert not small.needs_finance  # 50 yuan is not above 50 yuan
    refund_approve(acting_user=world.manager, application=small)
    big = refund_apply(acting_user=owner, payment=payment, reason="x",
                       lines={bills["later"].pk: 10000})
    assert big.needs_finance
    for user in (world.manager, world.admin):
        assert "approve" not in allowed(user, big)
        with pytest.raises(RefundError, match="finance role"):
            refund_approve(acting_user=user, application=big)
    assert "approve" in allowed(world.finance, big)
    refund_approve(acting_user=world.finance, application=big)
    assert RefundApplication.objects.get(pk=big.pk).status == A.APPROVED
    check_ok()


def offered(client, application) -> set[str]:
    """The actions the console's page of the application links to."""
    page = client.get(f"/console/refunds/refundapplication/{application.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    return {name for name in ("approve", "reject", "retry", "counter", "cancel")
            if f"refundapplication/{application.pk}/{name}/" in html}


def test_the_refund_page_offers_only_what_the_state_allows(world, client):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"]])
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bills["next"].pk: 10000})
    client.force_login(world.manager)
    assert offered(client, application) == {"approve", "reject"}
    refund_approve(acting_user=world.manager, application=application)
    assert offered(client, application) == {"counter", "cancel"}
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH)
    assert offered(client, application) == set()
    # Staff who applied see no approval to give.
    mine = refund_apply(acting_user=world.manager, payment=world.pay_cash(
        unit, [bills["later"]]), reason="x", lines={bills["later"].pk: 10000})
    assert offered(client, mine) == {"reject"}


def test_amounts_people_read_are_in_yuan(world):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"]])
    application = refund_apply(acting_user=owner, payment=payment, reason="x",
                               lines={bills["next"].pk: 10000})
    assert "¥100.00" in str(application) and "10000" not in str(application)
    refund_approve(acting_user=world.manager, application=application)
    refund_record_counter(acting_user=world.cashier, application=application,
                          channel=Channel.CASH)
    summaries = list(AuditEvent.objects.filter(
        object_id=str(application.pk),
        content_type=ContentType.objects.get_for_model(RefundApplication),
    ).values_list("summary", flat=True))
    assert any("refunded ¥100.00 by cash" in s for s in summaries), summaries
    assert not any("fen" in s for s in summaries), summaries
