"""Refunds' to-dos on the console's home page (``linli.core.todos``): applications
waiting for this user's approval, refunds that failed and need staff, refunds paid
twice to recover."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from linli.core.todos import todo
from linli.refunds.duplicates import write_off_refusal
from linli.refunds.models import DuplicateRefund, RefundApplication
from linli.refunds.services import approval_refusal

DECIDE = "refunds.change_refundapplication"
S = RefundApplication.Status
D = DuplicateRefund.Status


@todo("refund_approvals", title=_("Refunds to approve"), permission=DECIDE,
      model="refunds.RefundApplication", icon="currency_exchange", order=30)
def refunds_to_approve(user, community_ids):
    """Applications awaiting an approval this user may give: never their own (whoever
    asks does not approve), never a second approval after their own first, and only
    where their role is the one the policy asks for (``approval_refusal``)."""
    waiting = (RefundApplication.objects
               .filter(status__in=(S.SUBMITTED, S.AWAITING_SECOND),
                       community_id__in=community_ids)
               .exclude(requested_by_id=user.pk)
               .select_related("first_approver__staff"))
    allowed = [a.pk for a in waiting if not approval_refusal(user, a)]
    return RefundApplication.objects.filter(pk__in=allowed)


@todo("refunds_failed", title=_("Failed refunds needing staff"), permission=DECIDE,
      model="refunds.RefundApplication", icon="sync_problem", order=50)
def refunds_needing_staff(user, community_ids):
    return RefundApplication.objects.filter(status=S.ATTENTION, community_id__in=community_ids)


@todo("refunds_paid_twice", title=_("Refunds paid twice to recover"), permission=DECIDE,
      model="refunds.DuplicateRefund", icon="report", order=70)
def refunds_paid_twice(user, community_ids):
    """Open ones; a write-off asked for waits for someone other than who asked."""
    candidates = DuplicateRefund.objects.filter(status__in=DuplicateRefund.OPEN_STATUSES,
                                                community_id__in=community_ids)
    asked = [d.pk for d in candidates.filter(status=D.WRITE_OFF_ASKED)
             if write_off_refusal(user, d)]
    return candidates.exclude(Q(pk__in=asked))
