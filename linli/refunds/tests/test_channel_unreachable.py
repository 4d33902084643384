"""A refund whose channel cannot be reached at all (switched off, misconfigured) is no
dead end: it waits for staff with the reason, and a retry that fails the same way says
so and leaves it waiting — never a server error, never "being refunded" for ever."""

from __future__ import annotations

import pytest
from django.test import override_settings

from linli.refunds.models import RefundApplication
from linli.refunds.payouts import refund_execute, refund_retry
from linli.refunds.services import RefundError, refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok

A = RefundApplication.Status


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_channel_leaves_the_refund_waiting_for_staff_with_the_reason():
    world = World()
    unit, _owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, bills.values())
    nxt = bills["next"]
    application = refund_apply(acting_user=world.manager, payment=payment, reason="搬家",
                               lines={nxt.pk: nxt.amount_fen})
    with override_settings(LINLI_SANDBOX_PAYMENTS=False):
        refund_approve(acting_user=world.finance, application=application)
        refund_execute(application.pk)
        application.refresh_from_db()
        assert application.status == A.ATTENTION
        assert "sandbox works only in the demo" in application.attention_reason
        with pytest.raises(RefundError):
            refund_retry(acting_user=world.finance, application=application)
        application.refresh_from_db()
        assert application.status == A.ATTENTION
    check_ok()
