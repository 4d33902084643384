"""Background jobs of the core: the nightly invariant check, and a ping that proves a
worker is consuming the queue."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, task

from linli.core.invariants import run_all

logger = logging.getLogger("linli.check")


def local_crontab(**fields: str) -> Callable[[dt.datetime], bool]:
    """A crontab read in ``settings.TIME_ZONE``.

    Huey runs with ``utc=True`` and hands periodic tasks naive UTC times, so a plain
    ``crontab(hour="2")`` fires at 02:00 UTC, which is 10:00 in Shanghai, in working
    hours. This converts the time first, so "02:30" means 02:30 where the estate is.
    """
    matches = crontab(**fields)
    zone = ZoneInfo(settings.TIME_ZONE)

    def validate(timestamp: dt.datetime) -> bool:
        if HUEY.utc:
            timestamp = timestamp.replace(tzinfo=dt.UTC).astimezone(zone).replace(tzinfo=None)
        return matches(timestamp)

    return validate


def run_invariants_and_log() -> bool:
    results = run_all()
    failed = [r for r in results if not r.ok]
    for r in failed:
        for violation in r.violations:
            logger.critical("INVARIANT BROKEN %s: %s", r.name, violation)
    if failed:
        logger.critical("linli check: %d of %d checks FAILED", len(failed), len(results))
    else:
        logger.info("linli check: all %d checks passed", len(results))
    return not failed


@db_periodic_task(local_crontab(hour="2", minute="30"), name="nightly_check")
def nightly_check() -> bool:
    return run_invariants_and_log()


@task(name="ping")
def ping(token: str) -> str:
    """Echo ``token``: a job that touches nothing, so its result proves a worker ran it."""
    return token
