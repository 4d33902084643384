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
import json
import os
import shutil
import subprocess
import sys
import tempfile

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection

from linli.bench.billing import bench_billing
from linli.bench.notify import bench_notify
from linli.bench.portal import bench_portal

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


BENCHES = {"billing": bench_billing, "notify": bench_notify, "portal": bench_portal}
# The options handed on to the child process of each bench (all but --database).
CHILD_OPTIONS = {
    "billing": ("units", "wait_quiet"),
    "notify": ("orders", "concurrency"),
    "portal": ("bills", "owners", "concurrency", "duration"),
}
