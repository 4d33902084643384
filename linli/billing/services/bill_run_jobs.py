"""Console bill runs committed in the background (too many bills for a web request).

``bill_run_job_queue`` records what the person approved and queues the job once per
preview page (its token); ``bill_run_job_execute`` — the job's body — commits it with
the same ``bill_run_commit`` the console uses inline, so a background run issues what
the preview showed or nothing (``BillRunChanged``).

A job never issues bills twice: it is skipped once done or failed, its bills and its
"done" are written in one transaction (a crash rolls both back, and the retry starts
clean), concurrent attempts wait on the job row's lock, and behind all that stand the
bills' unique constraints and the community's run lock.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from linli.billing.models import BillRunJob
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.planning import BillRunError
from linli.core.audit import person_or_none as _user

Status = BillRunJob.Status


def new_token() -> str:
    return str(uuid.uuid4())


def bill_run_job_queue(
    *, acting_user, token: str, community_id: int, period_key: str,
    fee_item_ids: list[int] | None, expected: tuple[int, int],
) -> tuple[BillRunJob, bool]:
    """The job for this token, queued if new. Returns (job, created)."""
    with transaction.atomic():
        job, created = BillRunJob.objects.get_or_create(token=token, defaults={
            "community_id": community_id, "period_key": period_key,
            "fee_item_ids": list(fee_item_ids or []), "expected_count": expected[0],
            "expected_total_fen": expected[1], "requested_by": _user(acting_user),
        })
        if created:
            from linli.billing.tasks import bill_run_job

            transaction.on_commit(lambda: bill_run_job(job.pk))
    return job, created


def bill_run_job_execute(*, job_id: int, last_attempt: bool = True) -> BillRunJob:
    """Commit the job's run unless it is finished. A refusal (the figures changed, a
    period no longer allowed) fails the job for good; any other error is raised for
    the queue to retry, and fails the job on the last attempt."""
    with transaction.atomic():
        job = BillRunJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if job.finished:
            return job
        job.status, job.started_at, job.attempts = Status.RUNNING, timezone.now(), job.attempts + 1
        job.save(update_fields=["status", "started_at", "attempts"])
    try:
        with transaction.atomic():
            job = BillRunJob.objects.select_for_update(no_key=True).get(pk=job_id)
            if job.finished:  # another attempt finished it while this one waited
                return job
            run, _preview = bill_run_commit(
                acting_user=job.requested_by, community_id=job.community_id,
                period_key=job.period_key, fee_item_ids=job.fee_item_ids or None,
                expected=(job.expected_count, job.expected_total_fen),
            )
            job.status, job.run, job.finished_at, job.error = (
                Status.DONE, run, timezone.now(), "")
            job.save(update_fields=["status", "run", "finished_at", "error"])
            return job
    except BillRunError as exc:
        return _settle(job_id, Status.FAILED, str(exc))
    except Exception as exc:
        _settle(job_id, Status.FAILED if last_attempt else Status.QUEUED,
                f"{type(exc).__name__}: {exc}")
        raise


def _settle(job_id: int, status: str, error: str) -> BillRunJob:
    with transaction.atomic():
        job = BillRunJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if job.finished:
            return job
        job.status, job.error = status, error[:2000]
        job.finished_at = timezone.now() if status == Status.FAILED else None
        job.save(update_fields=["status", "error", "finished_at"])
    return job
