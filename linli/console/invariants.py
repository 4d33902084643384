"""Invariants of the console's background imports (``linli.core.import_jobs``)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from linli.core.invariants import invariant
from linli.core.models import ImportJob

STUCK_AFTER = dt.timedelta(hours=6)


@invariant("imports.finished_jobs_keep_no_file",
           "A finished background import keeps no copy of the uploaded file (it may hold "
           "ID numbers and mobiles)")
def finished_jobs_keep_no_file() -> tuple[int, list[str]]:
    finished = ImportJob.objects.filter(status__in=[ImportJob.Status.DONE,
                                                    ImportJob.Status.FAILED])
    kept = finished.exclude(file_data=b"").values_list("pk", flat=True)
    return finished.count(), [f"import job #{pk} is finished but keeps its file" for pk in kept]


@invariant("imports.no_job_stuck",
           "No background import has waited or run for more than six hours (is a worker "
           "running?)")
def no_job_stuck() -> tuple[int, list[str]]:
    open_jobs = ImportJob.objects.filter(status__in=[ImportJob.Status.QUEUED,
                                                     ImportJob.Status.RUNNING])
    stuck = open_jobs.filter(created_at__lt=timezone.now() - STUCK_AFTER)
    return open_jobs.count(), [
        f"import job #{pk} has been {status} since {created:%Y-%m-%d %H:%M}"
        for pk, status, created in stuck.values_list("pk", "status", "created_at")
    ]
