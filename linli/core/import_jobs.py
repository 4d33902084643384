"""Excel imports run by a background job, for files too large for a web request.

``import_job_queue`` checks the upload as every import does (size, a real .xlsx), keeps
its bytes on the job row and queues the job after the commit; ``import_job_execute`` —
the job's body — runs the import with the same service the page uses inline, and writes
what it did on the row. While it runs, its progress (phase, rows done, rows in all) goes
to the job store, where the job page reads it (``import_job_progress``): the import's own
transaction hides its writes until it commits.

A job runs at most once to its end: concurrent attempts wait on the row's lock and a
finished job is skipped. A crash puts it back in the queue while retries remain; the
imports are idempotent (a file imported twice creates nothing new), so a retried job
after a crash is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import IO, Any

from django.db import transaction
from django.utils import timezone, translation
from huey.contrib.djhuey import HUEY

from linli.core import progress, xlsx
from linli.core.audit import person_or_none
from linli.core.models import ImportJob

logger = logging.getLogger("linli.imports")
Status = ImportJob.Status
# run(job) -> the result to keep (JSON): {"ok": bool, ...} as the page shows it.
Runner = Callable[[ImportJob], dict]


def import_job_queue(
    *, acting_user: Any, kind: str, community: Any, file: IO[bytes], ip: str | None,
    enqueue: Callable[[int], Any],
) -> ImportJob:
    """A job for ``file``; ``enqueue(job_id)`` queues it once the row is committed.
    Raises ``ImportRefused`` (nothing queued) for a file no import would read."""
    data = xlsx.read_upload(file)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind, community=community, file_name=(getattr(file, "name", "") or "")[:255],
            file_size=len(data), file_data=data, language=translation.get_language() or "",
            requested_by=person_or_none(acting_user), ip=ip,
        )
        transaction.on_commit(lambda: enqueue(job.pk))
    return job


def _progress_key(job_id: int) -> str:
    return f"linli:import-job:{job_id}:progress"


def import_job_progress(job: ImportJob) -> tuple[str, int, int]:
    """(phase, rows done, rows in all) of a running job, as last reported; a finished
    job's from its row."""
    if job.finished:
        return xlsx.SAVING, job.rows_done, job.rows_total
    try:
        reported = HUEY.get(_progress_key(job.pk), peek=True)
    except Exception:  # an unreachable store: the page still shows the status
        logger.warning("import job #%s: progress unavailable", job.pk, exc_info=True)
        reported = None
    return tuple(reported) if reported else ("", 0, 0)


def import_job_execute(*, job_id: int, run: Runner, last_attempt: bool = True) -> ImportJob:
    """Run the job unless it is finished. Any error is raised for the queue to retry,
    and fails the job on the last attempt."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if job.finished:
            return job
        job.status, job.started_at, job.attempts = Status.RUNNING, timezone.now(), job.attempts + 1
        job.save(update_fields=["status", "started_at", "attempts"])
    key = _progress_key(job_id)
    counted = {"rows": 0}

    def report(phase: str, done: int, total: int) -> None:
        if phase == xlsx.CHECKING:
            counted["rows"] = total
        try:
            HUEY.put(key, (phase, done, total))
        except Exception:  # progress is for show: an unreachable store stops no import
            logger.warning("import job #%s: progress not stored", job_id, exc_info=True)

    try:
        with progress.tracking(report), translation.override(job.language or None):
            result = run(job)
    except Exception as exc:
        _settle(job_id, Status.FAILED if last_attempt else Status.QUEUED,
                error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        _forget(key)
    return _settle(job_id, Status.DONE, result=result, rows=counted["rows"])


def _forget(key: str) -> None:
    try:
        HUEY.delete(key)
    except Exception:
        logger.warning("import job progress %s not deleted", key, exc_info=True)


def _settle(job_id: int, status: str, *, result: dict | None = None, rows: int = 0,
            error: str = "") -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if job.finished:
            return job
        job.status, job.error = status, error[:2000]
        fields = ["status", "error"]
        if status != Status.QUEUED:
            job.finished_at, job.file_data = timezone.now(), b""
            job.result, job.rows_done, job.rows_total = result or {}, rows, rows
            fields += ["finished_at", "file_data", "result", "rows_done", "rows_total"]
        job.save(update_fields=fields)
    return job
