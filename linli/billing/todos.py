"""Billing's to-dos on the console's home page (``linli.core.todos``): readings flagged
for review, adjustments (减免、折扣、作废) awaiting approval, background bill runs that
failed."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from linli.billing.models import BillAdjustment, BillRun, BillRunJob, MeterReading
from linli.billing.services.adjustments import APPROVE_PERMISSION, _check_approver
from linli.core.todos import todo


@todo("readings", title=_("Meter readings to review"),
      permission="billing.change_meterreading", model="billing.MeterReading", icon="speed",
      order=10)
def readings_to_review(user, community_ids):
    return MeterReading.objects.filter(status=MeterReading.Status.FLAGGED,
                                       community_id__in=community_ids)


@todo("adjustments", title=_("Waivers and adjustments to approve"),
      permission=APPROVE_PERMISSION, model="billing.BillAdjustment", icon="rule_settings",
      order=20)
def adjustments_to_approve(user, community_ids):
    """Pending adjustments this user may approve: not their own request, and above a
    community's finance threshold only if they are finance (the service's own rule)."""
    pending = (BillAdjustment.objects
               .filter(status=BillAdjustment.Status.PENDING,
                       bill__community_id__in=community_ids)
               .exclude(requested_by_id=user.pk).select_related("bill"))
    allowed = []
    for adjustment in pending:
        try:
            _check_approver(user, adjustment, adjustment.bill)
        except PermissionDenied:
            continue
        allowed.append(adjustment.pk)
    return BillAdjustment.objects.filter(pk__in=allowed)


@todo("bill_run_jobs", title=_("Background bill runs that failed"),
      permission="billing.add_billrun", url_name="billing:bill-runs", icon="error", order=90)
def failed_bill_run_jobs(user, community_ids):
    """Failed jobs whose month has not been issued since (by a later run)."""
    issued = BillRun.objects.filter(community_id=OuterRef("community_id"),
                                    period_key=OuterRef("period_key"),
                                    status=BillRun.Status.COMMITTED)
    return (BillRunJob.objects.filter(status=BillRunJob.Status.FAILED,
                                      community_id__in=community_ids)
            .exclude(Exists(issued)))
