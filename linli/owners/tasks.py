"""Background jobs of owner accounts."""

from __future__ import annotations

import logging

from huey.contrib.djhuey import db_periodic_task

from linli.core.tasks import local_crontab
from linli.owners.services import owners_housekeeping

logger = logging.getLogger("linli.owners")


@db_periodic_task(local_crontab(hour="3", minute="40"), name="owners_housekeeping")
def nightly_housekeeping() -> dict[str, int]:
    removed = owners_housekeeping()
    logger.info("owners housekeeping: removed %s", removed)
    return removed
