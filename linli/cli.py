"""The one command: ``linli <subcommand>``. Each subcommand is a Django management
command; ``linli manage ...`` reaches any other."""

from __future__ import annotations

import os
import sys

COMMANDS = {
    "demo": ("linli_demo", "migrate, load the demo data, serve web + worker"),
    "serve": ("linli_serve", "run the web server (gunicorn)"),
    "worker": ("run_huey", "run the background job worker"),
    "migrate": ("migrate", "create or upgrade the database"),
    "createadmin": ("linli_createadmin", "create a platform administrator"),
    "shell": ("shell", "Django shell, for operators"),
    "check": ("linli_check", "verify every ledger and data invariant"),
    "backup": ("linli_backup", "back up the database and generated keys into one file"),
    "restore": ("linli_restore", "restore a backup into a new home and empty database"),
    "postings": ("linli_postings", "print which accounts each business event posts to"),
    "bill-run": ("linli_bill_run", "preview or commit a bill run for a community and month"),
    "bench": ("linli_bench", "benchmarks that print figures (billing, notify, ...)"),
    "paysim": ("linli_paysim", "run the local WeChat Pay / Alipay simulators (not real money)"),
    "manage": (None, "any Django management command"),
}

USAGE = "usage: linli <command> [options]\n\ncommands:\n" + "\n".join(
    f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()
)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"linli: unknown command {name!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line

    target = COMMANDS[name][0]
    execute_from_command_line(["linli", *rest] if target is None else ["linli", target, *rest])


if __name__ == "__main__":
    main()
