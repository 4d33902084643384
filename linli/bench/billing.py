"""``linli bench billing``: one committed bill run of N units, timed, then the raw
baseline (the same number of bill-shaped rows inserted the database's fastest way into
a scratch table with the bill table's unique indexes). See ``linli bench --help``."""

from __future__ import annotations

import gc
import json
import os
import resource
import time
import uuid

from django.core.management import call_command
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from linli.bench.data import analyze, build_community
from linli.billing.models import Bill
from linli.billing.services.bill_run import bill_run_commit
from linli.core.bulk import insert_raw

# --- bench billing ----------------------------------------------------------------


def bench_billing(options) -> dict:
    units = options["units"]
    call_command("migrate", interactive=False, verbosity=0)
    period_key = f"{timezone.localdate():%Y-%m}"
    started = time.perf_counter()
    community = build_community(units, period_key)
    build_s = time.perf_counter() - started
    analyze()
    _checkpoint()
    gc.collect()
    busy_run = _wait_for_quiet(options["wait_quiet"])
    started = time.perf_counter()
    run, _preview = bill_run_commit(
        acting_user=None, community_id=community.pk, period_key=period_key
    )
    seconds = time.perf_counter() - started
    bills = run.bill_count

    _checkpoint()
    busy_baseline = _wait_for_quiet(options["wait_quiet"])
    baseline_s = baseline_insert(bills, run)
    bills_per_s = bills / seconds
    baseline_rows_per_s = bills / baseline_s
    return {
        "bench": "billing",
        "units": units,
        "bills": bills,
        "seconds": round(seconds, 3),
        "bills_per_s": round(bills_per_s),
        "baseline_seconds": round(baseline_s, 3),
        "baseline_rows_per_s": round(baseline_rows_per_s),
        "ratio": round(bills_per_s / baseline_rows_per_s, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "database": connection.vendor,
        "period": period_key,
        "build_seconds": round(build_s, 3),
        "warnings": sum(w["count"] for w in run.warnings),
        "load_1m": round(os.getloadavg()[0], 2),  # the machine is shared: how busy it was
        **({"cpu_busy_pct_before": [busy_run, busy_baseline]} if options["wait_quiet"] else {}),
    }


# --- the raw baseline ---------------------------------------------------------------

_BASELINE_TABLE = "bench_bill_baseline"


def baseline_insert(rows: int, run) -> float:
    """Seconds to insert ``rows`` bill-shaped rows the fastest raw way, one transaction."""
    model = _baseline_model()
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        template = _baseline_template(run)
        columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
        started = time.perf_counter()
        with transaction.atomic():
            insert_raw(_BASELINE_TABLE, columns, _baseline_rows(template, columns, rows))
        return time.perf_counter() - started
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)


def _baseline_model() -> type[models.Model]:
    """A table with the bill table's columns (foreign keys as plain bigints: no checks)
    and its two unique indexes, and nothing else."""
    attrs = {"__module__": __name__}
    for field in Bill._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.is_relation:
            clone = models.BigIntegerField(null=field.null)
        else:
            name, path, args, kwargs = field.deconstruct()
            kwargs.pop("db_index", None)
            clone = type(field)(*args, **kwargs)
        attrs[field.column] = clone
    q = models.Q
    attrs["Meta"] = type("Meta", (), {
        "app_label": "billing",
        "db_table": _BASELINE_TABLE,
        "constraints": [
            models.UniqueConstraint(
                fields=["unit_id", "fee_item_id", "period_key"],
                condition=q(parking_space_id__isnull=True, run_reversed=False),
                name="bench_bill_once_unit",
            ),
            models.UniqueConstraint(
                fields=["parking_space_id", "fee_item_id", "period_key"],
                condition=q(parking_space_id__isnull=False, run_reversed=False),
                name="bench_bill_once_space",
            ),
        ],
    })
    name = f"BenchBill{uuid.uuid4().hex[:8]}"  # a fresh class: the registry keeps old ones
    return type(name, (models.Model,), attrs)


def _baseline_template(run) -> dict:
    """One real bill of the run, as the driver receives it."""
    bill = Bill.objects.filter(bill_run=run, parking_space__isnull=True).order_by("id").first()
    values = {}
    for field in Bill._meta.concrete_fields:
        if not field.primary_key:
            values[field.column] = field.get_db_prep_save(
                getattr(bill, field.attname), connection
            )
    if connection.vendor == "postgresql" and values.get("detail") is not None:
        values["detail"] = json.dumps(bill.detail)  # COPY takes JSON as text
    return values


def _baseline_rows(template: dict, columns: list[str], rows: int):
    """Distinct bill rows (unit i, same fee item and period), built as they are written."""
    base = [template[c] for c in columns]
    unit_at, amount_at = columns.index("unit_id"), columns.index("amount_fen")
    for i in range(rows):
        row = list(base)
        row[unit_at] = i + 1
        row[amount_at] = 10000 + i % 9000
        yield row


# --- helpers --------------------------------------------------------------------------


def _checkpoint() -> None:
    """Start each timed part from a clean checkpoint, as the reference baselines did
    (skipped on PostgreSQL for a user without the right to CHECKPOINT)."""
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("CHECKPOINT")
            else:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except DatabaseError:
        pass


QUIET_BUSY_PCT = 15.0


def _wait_for_quiet(max_wait_s: int) -> float | None:
    """Wait (up to ``max_wait_s``) until the CPUs were under 15 % busy over 3 s; returns
    the last busy percentage measured (None when not asked to wait)."""
    if max_wait_s <= 0:
        return None
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = _cpu_busy_pct(3.0)
        if busy < QUIET_BUSY_PCT or time.monotonic() >= deadline:
            return round(busy, 1)


def _cpu_busy_pct(window_s: float) -> float:
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total_0, idle_0 = sample()
    time.sleep(window_s)
    total_1, idle_1 = sample()
    spent = max(total_1 - total_0, 1)
    return 100.0 * (spent - (idle_1 - idle_0)) / spent


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
