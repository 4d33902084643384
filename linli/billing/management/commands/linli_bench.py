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

Other benches (``notify``, ``portal``) add a sub-command to ``BENCHES``.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from decimal import Decimal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, OperationalError, connection, models, transaction
from django.utils import timezone

from linli.billing.models import (
    Bill,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.services.bill_run import bill_run_commit
from linli.core.bulk import insert_raw, insert_rows
from linli.estate.models import Building, Community, Company, ParkingSpace, Unit

CHILD_ENV = "LINLI_BENCH_CHILD"
UNITS_PER_BUILDING = 200
CHUNK = 5000


class Command(BaseCommand):
    help = "Benchmarks that print one JSON line of figures (billing, ...)."

    def add_arguments(self, parser):
        benches = parser.add_subparsers(dest="bench", required=True, metavar="{billing}")
        billing = benches.add_parser("billing", help="one committed bill run of N units")
        billing.add_argument("--units", type=_positive_int, required=True,
                             help="units in the community")
        billing.add_argument(
            "--database", default="",
            help="database URL to run in (default: a throwaway SQLite file)",
        )
        billing.add_argument(
            "--wait-quiet", type=int, default=0, metavar="SECONDS",
            help="before each timed part, wait up to this long for the machine's CPUs to "
                 "be less than 15%% busy (as the reference baselines did)",
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
        argv = [sys.executable, "-m", "linli.cli", "bench", bench,
                "--units", str(options["units"]), "--wait-quiet", str(options["wait_quiet"])]
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
    _analyze()
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


def build_community(units: int, period_key: str) -> Community:
    """A synthetic community, written in bulk and streamed (never all units in memory)."""
    month = dt.date.fromisoformat(f"{period_key}-01")
    tag = uuid.uuid4().hex[:8]
    with transaction.atomic():
        company = Company.objects.create(name=f"bench-{tag}")
        community = Community.objects.create(company=company, name=f"bench-{tag}", code=tag)
        BillingSettings.objects.create(community=community)
        _fee_items(community, month)
        buildings = Building.objects.bulk_create(
            Building(community=community, name=f"{i + 1}栋", sort_order=i)
            for i in range((units + UNITS_PER_BUILDING - 1) // UNITS_PER_BUILDING)
        )
        building_ids = [b.pk for b in buildings]
        insert_rows(Unit, _UNIT_FIELDS, _unit_rows(community.pk, building_ids, units, month))
        _parking(community.pk)
    return community


def _fee_items(community: Community, month: dt.date) -> None:
    since = month - dt.timedelta(days=365)
    plans = [
        ("物业服务费", FeeItem.Category.PROPERTY, ChargeStandard.Method.BUILDING_AREA,
         Decimal("2.5000"), Binding.Scope.COMMUNITY, Decimal(50)),
        ("垃圾清运费", FeeItem.Category.OTHER, ChargeStandard.Method.FIXED_UNIT,
         Decimal("15.0000"), Binding.Scope.COMMUNITY, None),
        ("停车管理费", FeeItem.Category.PARKING, ChargeStandard.Method.FIXED_SPACE,
         Decimal("150.0000"), Binding.Scope.ALL_PARKING, None),
    ]
    for order, (name, category, method, price, scope, vacancy) in enumerate(plans):
        item = FeeItem.objects.create(
            community=community, name=name, category=category, sort_order=order
        )
        standard = ChargeStandard.objects.create(
            fee_item=item, name=name, method=method, vacancy_percent=vacancy,
            late_fee_enabled=True,
        )
        StandardRate.objects.create(standard=standard, effective_from=since, unit_price=price)
        Binding.objects.create(standard=standard, scope=scope, start_date=since)


_UNIT_FIELDS = ("community", "building", "entrance", "floor", "room_no", "building_area",
                "usable_area", "kind", "status", "delivered_on")


def _unit_rows(community_id: int, building_ids: list[int], units: int, month: dt.date):
    delivered = month - dt.timedelta(days=400)
    mid_month = month + dt.timedelta(days=14)
    for i in range(units):
        building, n = divmod(i, UNITS_PER_BUILDING)
        entrance, n = divmod(n, 100)
        floor, room = divmod(n, 4)
        area = Decimal(6000 + (i * 37) % 10000).scaleb(-2)  # 60.00 … 159.99 m²
        yield (
            community_id, building_ids[building], f"{entrance + 1}单元", floor + 1,
            f"{floor + 1}{room + 1:02d}", area, (area * Decimal("0.8")).quantize(area),
            Unit.Kind.RESIDENTIAL,
            Unit.Status.VACANT if i % 10 == 0 else Unit.Status.OCCUPIED,
            mid_month if i % 100 == 1 else delivered,  # 1 % delivered mid-month
        )


def _parking(community_id: int) -> None:
    """A space for every third unit, read back by id in chunks (ids are not assumed)."""
    last_id, number = 0, 0
    while True:
        ids = list(
            Unit.objects.filter(community_id=community_id, id__gt=last_id)
            .order_by("id").values_list("id", flat=True)[:CHUNK]
        )
        if not ids:
            return
        last_id = ids[-1]
        rows = []
        for unit_id in ids[::3]:
            number += 1
            rows.append((community_id, f"P{number:06d}", "B1", ParkingSpace.Kind.RENTED, unit_id))
        insert_rows(ParkingSpace, ("community", "code", "location", "kind", "unit"), rows)


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
                condition=q(parking_space_id__isnull=True), name="bench_bill_once_unit",
            ),
            models.UniqueConstraint(
                fields=["parking_space_id", "fee_item_id", "period_key"],
                condition=q(parking_space_id__isnull=False), name="bench_bill_once_space",
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


def _analyze() -> None:
    """Fresh planner statistics, as a live database has (autovacuum on PostgreSQL) for
    an estate that was entered long before its bill run."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


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


BENCHES = {"billing": bench_billing}
