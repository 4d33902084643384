"""Payments' to-dos on the console's home page (``linli.core.todos``): payment anomalies
open (money held until staff resolve it) and automatic refunds the channel refused."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from linli.core.todos import todo
from linli.payments.models import OrderRefund, PaymentAnomaly
from linli.payments.permissions import RESOLVE_PERMISSION


@todo("anomalies", title=_("Payment anomalies open"), permission=RESOLVE_PERMISSION,
      model="payments.PaymentAnomaly", icon="report", order=40)
def anomalies_open(user, community_ids):
    """Open anomalies, except a write-off this user asked for (another person approves)."""
    return (PaymentAnomaly.objects
            .filter(status=PaymentAnomaly.Status.OPEN, community_id__in=community_ids)
            .exclude(write_off_requested_by_id=user.pk))


@todo("auto_refunds_failed", title=_("Automatic refunds that failed"),
      permission=RESOLVE_PERMISSION, model="payments.OrderRefund", icon="undo", order=60)
def automatic_refunds_failed(user, community_ids):
    return OrderRefund.objects.filter(status=OrderRefund.Status.FAILED,
                                      community_id__in=community_ids)
