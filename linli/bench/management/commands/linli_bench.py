"""``linli bench <what> ...``: benchmarks that print one JSON line of figures.

``linli bench billing --units N [--database URL]`` builds a throwaway community of N
units with three fee items (monthly by building area, monthly fixed, and parking per
space for a third of the units), times one committed bill run for the current month,
and then — in the same process, on the same database — times the raw baseline: the
same number of bill rows of the same width inserted with the database's fastest bulk
path (one ``executemany`` transaction on SQLite, COPY on PostgreSQL) into a scratch
table with the bill table's unique indexes. ``ratio`` = bills_per_s / baseline_rows_per_s.

Where it runs: without ``--database``, in a fresh SQLite file under LINLI_HOME that is
deleted afterwards; with ``--database URL``, in that database (migrated first). Give
it a database kept for benchmarks: the synthetic company stays there, because the
ledger is append-only. Either way the benchmark runs in a child process with
DATABASE_URL set, so Django connects to the right database, and peak RSS is the
child's own.

``linli bench notify`` and ``linli bench portal`` (in ``linli.bench``) run the
same way; each sub-command is a function in ``BENCHES`` that returns the figures, and
the data they build comes from ``linli.bench.data`` (shared by all three).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, OperationalError, connection, models, transaction
from django.utils import timezone

from linli.bench.data import analyze, build_community
from linli.bench.notify import bench_notify
from linli.bench.portal import bench_portal
from linli.billing.models import Bill
from linli.billing.services.bill_run import bill_run_commit
from linli.core.bulk import insert_raw

CHILD_ENV = "LINLI_BENCH_CHILD"


class Command(BaseCommand):
    help = "Benchmarks that print one JSON line of figures (billing, notify, portal)."

    def add_arguments(self, parser):
        benches = parser.add_subparsers(dest="bench", required=True,
                                        metavar="{billing,notify,portal}")
        billing = benches.add_parser("billing", help="one committed bill run of N units")
        billing.add_argument("--units", type=_positive_int, required=True,
                             help="units in the community")
        billing.add_argument(
            "--wait-quiet", type=int, default=0, metavar="SECONDS",
            help="before each timed part, wait up to this long for the machine's CPUs to "
                 "be less than 15%% busy (as the reference baselines did)",
        )
        notify = benches.add_parser(
            "notify", help="signed WeChat Pay notifications, each sent twice, through the "
                           "real server, against /healthz")
        notify.add_argument("--orders", type=_positive_int, required=True,
                            help="open orders (one per unit) to pay")
        notify.add_argument("--concurrency", type=_positive_int, default=32,
                            help="requests in flight at once (default 32)")
        portal = benches.add_parser(
            "portal", help="owners' bills page through the real server, against /healthz")
        portal.add_argument("--bills", type=_positive_int, default=1_000_000,
                            help="bills in the community (default 1,000,000)")
        portal.add_argument("--owners", type=_positive_int, default=1000,
                            help="owners signed in, one session each (default 1000)")
        portal.add_argument("--concurrency", type=_positive_int, default=32,
                            help="requests in flight at once (default 32)")
        portal.add_argument("--duration", type=float, default=20.0, metavar="SECONDS",
                            help="seconds of load for the page, and again for /healthz "
                                 "(default 20)")
        for sub in (billing, notify, portal):
            sub.add_argument(
                "--database", default="",
                help="database URL to run in (default: a throwaway SQLite file)",
            )

    def handle(self, *args, bench: str, **options):
        if os.environ.get(CHILD_ENV) != "1":
            self._run_child(bench, options)
            return
        try:
            connection.ensure_connection()
        except OperationalError as exc:
            raise CommandError(f"cannot use the database: {exc}".strip()) from exc
        result = BENCHES[bench](options)
        self.stdout.write(json.dumps(result, ensure_ascii=False))

    def _run_child(self, bench: str, options) -> None:
        """Run the bench again in a process whose DATABASE_URL is the target database."""
        scratch = None
        url = options["database"]
        if not url:
            scratch = tempfile.mkdtemp(prefix="bench-", dir=settings.LINLI_HOME)
            url = f"sqlite:///{scratch}/bench.sqlite3"
        env = {**os.environ, "DATABASE_URL": url, CHILD_ENV: "1",
               "DJANGO_SETTINGS_MODULE": "linli.settings"}
        argv = [sys.executable, "-m", "linli.cli", "bench", bench]
        for name in CHILD_OPTIONS[bench]:
            argv += ["--" + name.replace("_", "-"), str(options[name])]
        try:
            done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True, check=False)
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        if done.stdout:
            self.stdout.write(done.stdout.rstrip("\n"))
        if done.returncode:
            raise CommandError(f"the benchmark failed (exit status {done.returncode})")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


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


BENCHES = {"billing": bench_billing, "notify": bench_notify, "portal": bench_portal}
# The options handed on to the child process of each bench (all but --database).
CHILD_OPTIONS = {
    "billing": ("units", "wait_quiet"),
    "notify": ("orders", "concurrency"),
    "portal": ("bills", "owners", "concurrency", "duration"),
}
