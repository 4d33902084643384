"""Scheduled bill runs: each community whose billing settings turn them on gets its
bills on its bill-run day (1–28, so every month has it): fees billed in advance (预收)
for the current month, and fees billed in arrears (后收: metered water, electricity,
gas) for the month before, whose readings are in by then.

Every morning at 01:10 (local time) ``scheduled_bill_runs`` queues one job per due
community, so a company's communities are billed in parallel by as many workers as
there are, and one community's failure neither stops nor delays the others. A run is
idempotent — it issues only what is missing — so a retried or repeated job is harmless.

``bill_run_job`` commits a console bill run too large for a web request.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from huey.contrib.djhuey import db_periodic_task, db_task

from linli.billing.calculators.periods import add_months
from linli.billing.models import BillingSettings, ChargeStandard
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.bill_run_jobs import bill_run_job_execute
from linli.billing.services.planning import BillRunError
from linli.core.tasks import local_crontab

logger = logging.getLogger("linli.billing")
Timing = ChargeStandard.Timing


def due_community_ids(today: dt.date) -> list[int]:
    return list(
        BillingSettings.objects.filter(scheduled_runs=True, bill_run_day=today.day)
        .order_by("community_id").values_list("community_id", flat=True)
    )


@db_periodic_task(local_crontab(hour="1", minute="10"), name="scheduled_bill_runs")
def scheduled_bill_runs() -> None:
    queue_due_bill_runs(timezone.localdate())


def scheduled_runs_of(community_id: int, today: dt.date) -> list[tuple[str, list[int]]]:
    """The runs a community's scheduled day commits: (period, fee item ids) — this month
    for the fee items billed in advance, last month for those billed in arrears. A fee
    item with standards of both kinds is in both; each run bills only what is due."""
    timings: dict[str, set[int]] = {Timing.ADVANCE: set(), Timing.ARREARS: set()}
    for fee_item_id, timing in (
        ChargeStandard.objects.filter(fee_item__community_id=community_id,
                                      fee_item__active=True, active=True)
        .exclude(method=ChargeStandard.Method.ONE_OFF).values_list("fee_item_id", "timing")
    ):
        timings[timing].add(fee_item_id)
    month = today.replace(day=1)
    runs = []
    for period, fee_item_ids in ((month, timings[Timing.ADVANCE]),
                                 (add_months(month, -1), timings[Timing.ARREARS])):
        if fee_item_ids:
            runs.append((f"{period:%Y-%m}", sorted(fee_item_ids)))
    return runs


def queue_due_bill_runs(today: dt.date) -> list[int]:
    """Queue the runs of every community due today; returns their ids."""
    community_ids = due_community_ids(today)
    for community_id in community_ids:
        for period_key, fee_item_ids in scheduled_runs_of(community_id, today):
            scheduled_bill_run(community_id, period_key, today.isoformat(), fee_item_ids)
    logger.info("scheduled bill runs %s: %d communities queued", today, len(community_ids))
    return community_ids


@db_task(retries=2, retry_delay=600, name="scheduled_bill_run")
def scheduled_bill_run(community_id: int, period_key: str, today: str,
                       fee_item_ids: list[int] | None = None) -> int | None:
    """Commit one community's run. A refusal (BillRunError) is final and logged; any
    other error is raised so that Huey retries the job."""
    try:
        run, _preview = bill_run_commit(
            acting_user=None, community_id=community_id, period_key=period_key,
            fee_item_ids=fee_item_ids, today=dt.date.fromisoformat(today),
        )
    except BillRunError as exc:
        logger.error("scheduled bill run community #%s %s refused: %s",
                     community_id, period_key, exc)
        return None
    except Exception:
        logger.exception("scheduled bill run community #%s %s failed", community_id, period_key)
        raise
    if run is None:
        logger.info("scheduled bill run community #%s %s: nothing to issue", community_id,
                    period_key)
        return None
    logger.info("scheduled bill run community #%s %s: run #%s, %d bills, %d fen, %d warnings",
                community_id, period_key, run.pk, run.bill_count, run.total_fen,
                sum(w["count"] for w in run.warnings))
    return run.pk


@db_task(retries=2, retry_delay=60, context=True, name="bill_run_job")
def bill_run_job(job_id: int, task=None) -> int | None:
    """A console bill run too large for the web request (``services.bill_run_jobs``).
    Returns the bill run's id once done; retried (at most twice) after a crash only."""
    job = bill_run_job_execute(job_id=job_id, last_attempt=task is None or not task.retries)
    logger.info("bill run job #%s: %s (run #%s)", job_id, job.status, job.run_id)
    return job.run_id
