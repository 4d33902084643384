"""What a staff member may do with a refund application now: its state decides which
actions exist, the policy and separation of duties decide whether this person may take
them. The console offers exactly these; the services check the same rules again (and
say why not) when an action is sent anyway."""

from __future__ import annotations

from linli.payments.models import COUNTER_CHANNELS
from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.payouts import cancellable
from linli.refunds.services import approval_refusal, may_approve

A = RefundApplication.Status
P = RefundPayout.Status


def allowed(user, application: RefundApplication) -> set[str]:
    """Names of the console actions ``user`` may take on ``application`` now:
    approve, reject, retry, pay_at_counter, cancel."""
    actions: set[str] = set()
    status = application.status
    if status in (A.SUBMITTED, A.AWAITING_SECOND):
        if not approval_refusal(user, application):
            actions.add("approve")
        if may_approve(user, application, second=False):
            actions.add("reject")
        return actions
    counter = application.payment.channel in COUNTER_CHANNELS
    if status == A.ATTENTION:
        in_flight = application.payouts.filter(status__in=[P.PROCESSING, P.SUCCESS]).exists()
        if not counter:
            actions.add("retry")
        if not in_flight:
            actions.add("pay_at_counter")
    elif status == A.APPROVED and counter:
        actions.add("pay_at_counter")
    if cancellable(application):
        actions.add("cancel")
    return actions
