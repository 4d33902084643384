"""Background jobs of payments: the janitor every minute, automatic refunds, and the
nightly pruning of rejected notification deliveries."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from linli.core.tasks import local_crontab

logger = logging.getLogger("linli.payments")


@db_periodic_task(crontab(minute="*"), name="payments_janitor")
def payments_janitor() -> dict:
    from linli.payments.janitor import janitor_run

    report = janitor_run()
    if report.errors:
        logger.warning("payments janitor: %d error(s), retried next run", len(report.errors))
    return report.__dict__


@db_periodic_task(local_crontab(hour="3", minute="50"), name="payments_notify_prune")
def payments_notify_prune() -> dict[str, int]:
    """Delete rejected notification deliveries older than the retention period."""
    from linli.payments.notify_limits import rejected_prune

    return rejected_prune()


@db_task(name="payments_send_order_refund")
def send_order_refund(refund_id: int) -> None:
    from linli.payments.auto_refunds import refund_send

    refund_send(refund_id)
