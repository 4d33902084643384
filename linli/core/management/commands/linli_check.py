from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from linli.core.invariants import registered, run_all


class Command(BaseCommand):
    help = "Verify every ledger and data invariant; exit 1 if any is broken."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", help="run only these checks (by name)")
        parser.add_argument("--list", action="store_true", dest="list_checks",
                            help="list the checks and exit")

    def handle(self, *args, only=None, list_checks=False, **options):
        if list_checks:
            for name, description in registered().items():
                self.stdout.write(f"{name:<28} {description}")
            return
        try:
            results = run_all(only)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
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
            self.stdout.flush()
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(f"linli check: all {len(results)} checks passed ({total} items checked)")
        )
