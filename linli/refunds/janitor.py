"""The refunds janitor: run every minute (``linli.refunds.tasks``).

- Approved applications nobody started (the queue was down): started. One that cannot
  be (the money to refund is gone, the gateway order is unknown …) goes to staff with
  the reason (``attention``) and is never picked up again by itself.
- Payouts still ``pending`` (never answered, or answered with an error that may hide
  an accepted refund): sent again with the *same* ``out_refund_no``.
- Payouts ``processing`` whose notification has not come: queried, not sooner than a
  minute after sending. An ``abnormal`` or failed one waits for staff (retry with the
  same number, pay another way, or cancel); a late notification still settles it, and
  a success after another way was chosen is a refund paid twice (``refunds.duplicates``).

Each one in its own transaction; an error is logged and retried on the next run.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone

from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.payouts import payout_send, refund_execute

logger = logging.getLogger("linli.refunds")

QUERY_AFTER = dt.timedelta(minutes=1)
START_AFTER = dt.timedelta(minutes=1)
BATCH = 200


def janitor_run(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    report = {"started": 0, "sent": 0, "errors": []}
    approved = RefundApplication.objects.filter(
        status=RefundApplication.Status.APPROVED, decided_at__lte=now - START_AFTER,
    ).exclude(payment__channel__in=["cash", "pos", "transfer", "cheque"]).order_by("id")
    for application in approved[:BATCH]:
        _guard(report, f"application #{application.pk}", lambda a=application: refund_execute(a.pk))
        report["started"] += 1
    due = RefundPayout.objects.filter(
        Q(status=RefundPayout.Status.PENDING)
        | Q(status=RefundPayout.Status.PROCESSING, sent_at__lte=now - QUERY_AFTER)
    ).exclude(status=RefundPayout.Status.PENDING, sent_at__gt=now - QUERY_AFTER).order_by("id")
    for payout in due[:BATCH]:
        _guard(report, payout.out_refund_no, lambda p=payout: payout_send(p.pk))
        report["sent"] += 1
    return report


def _guard(report: dict, label: str, fn) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - logged, retried next run
        logger.exception("refunds janitor: %s", label)
        report["errors"].append(f"{label}: {type(exc).__name__}: {exc}")
