from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from huey.contrib.djhuey import HUEY

from linli.core.logs import current_request_id

logger = logging.getLogger("linli.health")


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:  # noqa: BLE001 — any failure means "not reachable"
        logger.exception("health: database unreachable")
        return False


def _job_store_ok() -> bool:
    try:
        HUEY.pending_count()
        return True
    except Exception:  # noqa: BLE001
        logger.exception("health: job store unreachable")
        return False


@never_cache
@require_safe
def healthz(request):
    """200 when the database and the job store answer, 503 otherwise."""
    status = {"database": _database_ok(), "jobs": _job_store_ok()}
    ok = all(status.values())
    return JsonResponse({"ok": ok, **status}, status=200 if ok else 503)


def server_error(request, *args, **kwargs):
    """The 500 page, in Chinese and English, with the request id staff can quote (the
    log has the traceback under the same id). Rendered without context processors: the
    failure may be in one of them."""
    request_id = getattr(request, "request_id", None) or current_request_id()
    html = loader.get_template("core/500.html").render({"request_id": request_id})
    response = HttpResponseServerError(html)
    response["X-Request-ID"] = request_id
    return response
