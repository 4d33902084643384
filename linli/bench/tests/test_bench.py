"""``linli bench notify`` and ``linli bench portal`` end to end at tiny sizes, so the
commands cannot rot unnoticed. Figures are not asserted (no timed tests): the JSON
keys are, and that every notification was applied exactly once.

Each bench runs in its child process against this test database (a transactional
test: the child and its gunicorn workers see only committed rows, and the flush at
the end removes what they wrote), which saves migrating a fresh database per bench.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch):
    """One gunicorn worker to boot instead of two: these runs check behaviour, not speed."""
    monkeypatch.setenv("WEB_CONCURRENCY", "1")


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _bench(*argv: str) -> dict:
    out = io.StringIO()
    call_command("linli_bench", *argv, "--database", _database_url(), stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


def test_bench_notify_applies_every_notification_once_through_the_real_server():
    figures = _bench("notify", "--orders", "12", "--concurrency", "4")
    assert figures["orders"] == 12
    assert figures["notifications"] == 24  # each order's notification twice
    assert figures["statuses"] == {"204": 24}  # every delivery acknowledged
    assert figures["applied_once"] is True
    assert (figures["lost"], figures["duplicates"]) == (0, 0)
    assert figures["payments"] == figures["receipts"] == 12
    assert figures["check_ok"] is True
    assert figures["database"] == connection.vendor
    for key in ("notifications_per_s", "p50_ms", "p99_ms", "healthz_per_s", "ratio"):
        assert figures[key] > 0


def test_bench_portal_loads_signed_in_owners_bills_pages():
    figures = _bench("portal", "--bills", "200", "--owners", "5", "--concurrency", "4",
                     "--duration", "1")
    assert 150 <= figures["bills"] <= 250
    assert figures["owners_signed_in"] == 5
    assert figures["page"] == "portal:bills"
    assert set(figures["statuses"]) == {"200"}  # signed in: no redirect to sign-in
    assert figures["database"] == connection.vendor
    for key in ("bills_page_per_s", "p50_ms", "p99_ms", "healthz_per_s", "ratio", "page_bytes"):
        assert figures[key] > 0
