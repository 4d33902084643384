"""Periodic jobs of the core: the nightly invariant check."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from linli.core.invariants import run_all

logger = logging.getLogger("linli.check")


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


@db_periodic_task(crontab(hour="2", minute="30"), name="nightly_check")
def nightly_check() -> bool:
    return run_invariants_and_log()
