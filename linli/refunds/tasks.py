"""Background jobs of refunds: paying approved applications back, and the refunds
janitor (every minute) that settles what notifications alone never would."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger("linli.refunds")


@db_task(name="refunds_execute")
def refunds_execute(application_id: int) -> None:
    from linli.refunds.payouts import refund_execute

    refund_execute(application_id)


@db_periodic_task(crontab(minute="*"), name="refunds_janitor")
def refunds_janitor() -> dict:
    from linli.refunds.janitor import janitor_run

    report = janitor_run()
    if report["errors"]:
        logger.warning("refunds janitor: %d error(s), retried next run", len(report["errors"]))
    return report
