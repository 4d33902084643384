"""Large import files are processed by a background job: the upload is queued through the
real job store, the person lands on a page that refreshes itself with the rows done, and
once a worker has run the job the page shows what the import did — the counts, or every
refused row with its reason. Small files are still imported at once."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from linli import testing as t
from linli.billing.services import meters_import
from linli.core import progress, xlsx
from linli.core.import_jobs import import_job_execute, import_job_progress
from linli.core.models import AuditEvent, ImportJob
from linli.estate import imports as estate_imports
from linli.estate.models import Unit
from linli.staff.models import Role

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ESTATE = reverse("console:estate-import")
READINGS = reverse("billing:meter-readings-import")
UNIT_HEADER = ["楼栋名称", "单元", "楼层", "房号", "建筑面积", "套内面积", "类型", "状态", "交付日期"]
ROWS = 120


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def estate_file(rows: int = ROWS, *, bad_every: int = 0) -> SimpleUploadedFile:
    units = [UNIT_HEADER] + [
        ["9栋", "1单元", i // 4 + 1, f"{i // 4 + 1}0{i % 4 + 1}",
         "abc" if bad_every and i % bad_every == 0 else 88.5, None, "住宅", "已入住", None]
        for i in range(rows)
    ]
    data = workbook({"楼栋": [["楼栋名称", "地上层数"], ["9栋", 40]], "房屋": units})
    return SimpleUploadedFile("units.xlsx", data, content_type=XLSX)


@pytest.fixture(autouse=True)
def empty_queue():
    """Start from an empty job store (other tests' jobs share it)."""
    HUEY.flush()
    yield
    HUEY.flush()


@pytest.fixture
def background(settings):
    settings.LINLI_IMPORT_INLINE_MAX_BYTES = 1000  # every test workbook is larger


@pytest.fixture
def manager(estate):
    return t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])


def take(job_id: int):
    """Dequeue until the import job for ``job_id`` comes up and execute it as a worker
    would; other jobs met on the way are put back. (``immediate`` only keeps djhuey from
    closing the test's database connection.)"""
    others = []
    try:
        for _ in range(1000):
            task = HUEY.dequeue()
            assert task is not None, "the job never reached the queue"
            if task.name == "import_job" and tuple(task.args) == (job_id,):
                HUEY.immediate = True
                try:
                    return HUEY.execute(task)
                finally:
                    HUEY.immediate = False
            others.append(task)
        raise AssertionError("the job was not found in the queue")
    finally:
        for task in others:
            HUEY.enqueue(task)


def upload(client, url, community, file, capture):
    with capture(execute=True):
        return client.post(url, {"community": community.pk, "file": file})


def test_a_large_file_is_imported_by_a_background_job_with_its_progress_shown(
    client, estate, manager, background, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    response = upload(client, ESTATE, estate["a1"], estate_file(),
                      django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    job_url = reverse("console:import-job", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == job_url
    assert not Unit.objects.filter(building__name="9栋").exists()  # nothing yet

    waiting = client.get(job_url).content.decode()
    assert '<meta http-equiv="refresh"' in waiting
    assert "等待" in waiting and "units.xlsx" in waiting

    assert take(job.pk) == ImportJob.Status.DONE
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.result["ok"]
    assert (job.rows_done, job.rows_total) == (ROWS + 1, ROWS + 1)  # the building and units
    assert bytes(job.file_data) == b""  # the upload is not kept
    assert Unit.objects.filter(building__name="9栋").count() == ROWS
    assert AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT, actor=manager).exists()

    done = client.get(job_url).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert 'id="import-done"' in done and "已导入" in done and str(ROWS) in done
    # The import page lists the job.
    assert job_url in client.get(ESTATE).content.decode()


def test_refused_rows_of_a_background_import_are_listed_with_their_reasons(
    client, estate, manager, background, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    upload(client, ESTATE, estate["a1"], estate_file(bad_every=40),
           django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    take(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and not job.result["ok"]
    page = client.get(reverse("console:import-job", args=[job.pk])).content.decode()
    assert 'id="import-errors"' in page and "未导入任何数据" in page
    assert page.count("建筑面积") >= 3  # rows 2, 42 and 82 of 房屋, each with its column
    assert not Unit.objects.filter(building__name="9栋").exists()


def test_a_background_meter_readings_import_refuses_unknown_units(
    client, estate, manager, background, django_capture_on_commit_callbacks
):
    rows = [[c.header for c in meters_import.SPEC.columns]] + [
        ["99栋", None, f"{n}", "水", "2026-11", 100 + n, None, 10, None] for n in range(80)
    ]
    file = SimpleUploadedFile("readings.xlsx", workbook({meters_import.SHEET: rows}),
                              content_type=XLSX)
    client.force_login(manager)
    response = upload(client, READINGS, estate["a1"], file, django_capture_on_commit_callbacks)
    job = ImportJob.objects.get(kind="meter-readings")
    assert response["Location"] == reverse("console:import-job", args=[job.pk])
    take(job.pk)
    job.refresh_from_db()
    assert not job.result["ok"] and len(job.result["errors_table"]["rows"]) == 80
    page = client.get(reverse("console:import-job", args=[job.pk])).content.decode()
    assert "99栋" in page


def test_a_small_file_is_still_imported_at_once(client, estate, manager):
    client.force_login(manager)
    response = client.post(ESTATE, {"community": estate["a1"].pk, "file": estate_file(8)})
    assert response.status_code == 200 and 'id="import-done"' in response.content.decode()
    assert not ImportJob.objects.exists()
    assert Unit.objects.filter(building__name="9栋").count() == 8


def test_a_large_file_that_is_not_xlsx_is_refused_at_once(client, estate, manager, background):
    client.force_login(manager)
    file = SimpleUploadedFile("units.xlsx", b"name,area\n" * 500, content_type=XLSX)
    response = client.post(ESTATE, {"community": estate["a1"].pk, "file": file})
    assert response.status_code == 200 and "Excel" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_job_page_is_only_for_staff_of_its_community(
    client, estate, manager, background, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    upload(client, ESTATE, estate["a1"], estate_file(), django_capture_on_commit_callbacks)
    url = reverse("console:import-job", args=[ImportJob.objects.get().pk])
    client.force_login(t.make_staff(estate["company_a"], Role.MANAGER, [estate["a2"]]))
    assert client.get(url).status_code == 404
    client.force_login(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]))
    assert client.get(url).status_code == 403  # may not import the estate


def test_the_import_reports_rows_done_of_rows_in_all_as_it_goes(estate, manager):
    """What the job page shows while a job runs: each phase with its rows done."""
    seen: list[tuple[str, int, int]] = []
    with progress.tracking(lambda *report: seen.append(report), interval_s=0):
        result = estate_imports.estate_import(acting_user=manager, community=estate["a1"],
                                              file=estate_file())
    assert result.ok
    checking = [(done, total) for phase, done, total in seen if phase == xlsx.CHECKING]
    saving = [(done, total) for phase, done, total in seen if phase == xlsx.SAVING]
    assert checking[0] == (0, ROWS + 1) and checking[-1] == (ROWS + 1, ROWS + 1)
    assert [done for done, _ in checking] == sorted(done for done, _ in checking)
    assert saving[-1] == (ROWS + 1, ROWS + 1)


def test_a_running_job_shows_the_progress_it_stored(client, estate, manager):
    job = ImportJob.objects.create(kind="estate", community=estate["a1"], requested_by=manager,
                                   status=ImportJob.Status.RUNNING)
    HUEY.put(f"linli:import-job:{job.pk}:progress", (xlsx.CHECKING, 40, 120))
    assert import_job_progress(job) == (xlsx.CHECKING, 40, 120)
    client.force_login(manager)
    page = client.get(reverse("console:import-job", args=[job.pk])).content.decode()
    assert "正在检查" in page and "40" in page and "120" in page and "width: 33%" in page
    assert '<meta http-equiv="refresh"' in page


def test_a_crashed_job_is_retried_then_shown_as_failed(client, estate, manager):
    job = ImportJob.objects.create(kind="estate", community=estate["a1"], requested_by=manager,
                                   file_name="units.xlsx", file_data=b"PK\x03\x04")

    def crash(job):
        raise OSError("disk full")

    with pytest.raises(OSError):
        import_job_execute(job_id=job.pk, run=crash, last_attempt=False)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED and "disk full" in job.error
    assert bytes(job.file_data) == b"PK\x03\x04"  # kept for the retry
    with pytest.raises(OSError):
        import_job_execute(job_id=job.pk, run=crash, last_attempt=True)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and job.attempts == 2
    # A finished job is never run again.
    assert import_job_execute(job_id=job.pk, run=crash).status == ImportJob.Status.FAILED
    client.force_login(manager)
    page = client.get(reverse("console:import-job", args=[job.pk])).content.decode()
    assert "导入因错误中止" in page and "disk full" in page
    assert 'http-equiv="refresh"' not in page


def test_linli_check_fails_while_a_job_is_stuck_or_a_finished_job_keeps_its_file(
    estate, manager
):
    from linli.core.invariants import run_all

    names = ["imports.finished_jobs_keep_no_file", "imports.no_job_stuck"]
    assert all(r.ok for r in run_all(names))
    job = ImportJob.objects.create(kind="estate", community=estate["a1"], requested_by=manager,
                                   file_data=b"PK\x03\x04", status=ImportJob.Status.DONE)
    old = ImportJob.objects.create(kind="estate", community=estate["a1"], requested_by=manager)
    ImportJob.objects.filter(pk=old.pk).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    results = {r.name: r for r in run_all(names)}
    assert f"import job #{job.pk}" in results[names[0]].violations[0]
    assert f"import job #{old.pk}" in results[names[1]].violations[0]
