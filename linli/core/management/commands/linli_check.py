from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from linli.core.invariants import run_all


class Command(BaseCommand):
    help = "Verify every ledger and data invariant; exit 1 if any is broken."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", help="run only these checks (by name)")

    def handle(self, *args, only=None, **options):
        results = run_all(only)
        failed = [r for r in results if not r.ok]
        for r in results:
            mark = self.style.SUCCESS("ok  ") if r.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {r.name:<28} {r.checked:>9} checked  {r.description}")
            for violation in r.violations:
                self.stdout.write(self.style.ERROR(f"       ✗ {violation}"))
        total = sum(r.checked for r in results)
        if failed:
            self.stdout.write(
                self.style.ERROR(
                    f"linli check: {len(failed)} of {len(results)} checks FAILED "
                    f"({sum(len(r.violations) for r in failed)} violation(s), {total} items checked)"
                )
            )
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(f"linli check: all {len(results)} checks passed ({total} items checked)")
        )
