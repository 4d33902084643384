"""What refunds tells billing through ``billing.hooks`` (registered in apps.py)."""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import Sum

from linli.refunds.models import RefundApplication, RefundLine


def refunded_fen_by_bill(bill_ids: Collection[int] | None) -> dict[int, int]:
    """Principal refunded (the money has gone) per bill; None = every refunded bill."""
    lines = RefundLine.objects.filter(application__status=RefundApplication.Status.REFUNDED,
                                      bill_id__isnull=False)
    if bill_ids is not None:
        lines = lines.filter(bill_id__in=list(bill_ids))
    return dict(lines.values("bill_id").annotate(s=Sum("amount_fen")).order_by()
                .values_list("bill_id", "s"))
