"""The console's background jobs: imports of large files (``linli.console.imports``).

The worker finds a job's import page by its key; the modules below define the pages,
so importing them here registers every page before the first job runs."""

from linli.billing import views_meters  # noqa: F401 - the meter readings import page
from linli.console import views  # noqa: F401 - the estate import page
from linli.console.imports import import_job  # noqa: F401 - the task itself

__all__ = ["import_job"]
