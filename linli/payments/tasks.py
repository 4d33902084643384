"""Background jobs of payments: the janitor every minute, and automatic refunds."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger("linli.payments")


@db_periodic_task(crontab(minute="*"), name="payments_janitor")
def payments_janitor() -> dict:
    from linli.payments.janitor import janitor_run

    report = janitor_run()
    if report.errors:
        logger.warning("payments janitor: %d error(s), retried next run", len(report.errors))
    return report.__dict__


@db_task(name="payments_send_order_refund")
def send_order_refund(refund_id: int) -> None:
    from linli.payments.auto_refunds import refund_send

    refund_send(refund_id)
