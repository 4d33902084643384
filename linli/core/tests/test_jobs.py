"""Background jobs on the job store the settings configure: SQLite in the data folder by
default, Redis when REDIS_URL is set. No mocks: jobs go through the real store, and one
test runs a real worker process."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from huey import RedisHuey, SqliteHuey
from huey.contrib.djhuey import HUEY

from linli.core import invariants
from linli.core.tasks import nightly_check, ping


def _take(result) -> object:
    """Dequeue until the job behind ``result`` comes up, and execute it as a worker
    would. Other jobs met on the way are put back."""
    others = []
    try:
        for _ in range(1000):
            job = HUEY.dequeue()
            assert job is not None, "the job never reached the queue"
            if job.id == result.id:
                return HUEY.execute(job)
            others.append(job)
        raise AssertionError("the job was not found in the queue")
    finally:
        for job in others:
            HUEY.enqueue(job)


def test_storage_is_the_configured_one():
    if settings.REDIS_URL:
        assert isinstance(HUEY, RedisHuey)
    else:
        assert isinstance(HUEY, SqliteHuey)
        assert Path(HUEY.storage.filename).parent == settings.LINLI_HOME
    assert HUEY.immediate is False  # jobs really go through the store


def test_enqueued_job_is_stored_then_executed_by_the_consumer_api():
    token = uuid.uuid4().hex
    before = HUEY.pending_count()
    result = ping(token)
    assert HUEY.pending_count() == before + 1
    assert result.get() is None  # not run yet
    assert _take(result) == token
    assert result.get() == token  # the worker's result came back through the store


def test_nightly_check_is_a_registered_periodic_task():
    periodic = {t.name for t in HUEY._registry.periodic_tasks}
    assert "nightly_check" in periodic


def test_nightly_check_runs_at_half_past_two_local_time():
    """Huey compares periodic tasks with naive UTC times: 02:30 in Shanghai is 18:30 UTC
    the day before, and 02:30 UTC (10:30 in Shanghai) must not fire it."""
    assert HUEY.utc is True
    due = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 3, 9, 18, 30))}
    not_due = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 3, 10, 2, 30))}
    assert "nightly_check" in due
    assert "nightly_check" not in not_due


@pytest.mark.django_db(transaction=True)
def test_nightly_check_passes_on_a_clean_database():
    result = nightly_check()  # a periodic task can also be queued by hand
    assert _take(result) is True  # (Huey keeps no result for periodic tasks)


@pytest.mark.django_db(transaction=True)
def test_nightly_check_fails_and_logs_when_an_invariant_breaks(monkeypatch, caplog):
    monkeypatch.setitem(
        invariants._REGISTRY, "test.broken", ("always broken", lambda: (1, ["row 7 is wrong"]))
    )
    result = nightly_check()
    assert _take(result) is False
    assert "INVARIANT BROKEN test.broken: row 7 is wrong" in caplog.text


def test_a_real_worker_process_runs_queued_jobs():
    """`linli worker` as a separate process, on the same store, runs a queued job.

    Jobs that earlier tests queued (refunds to execute, bill runs) are flushed first:
    the worker would take them in order, against a database that is not the test's."""
    HUEY.flush()
    token = uuid.uuid4().hex
    result = ping(token)
    worker = subprocess.Popen(
        [sys.executable, "-m", "linli.cli", "worker"],
        env={**os.environ, "LINLI_HOME": str(settings.LINLI_HOME)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert result.get(blocking=True, timeout=60) == token
    finally:
        worker.send_signal(signal.SIGINT)  # graceful stop
        try:
            output, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert worker.returncode == 0, output.decode(errors="replace")
