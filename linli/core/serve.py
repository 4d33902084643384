"""How the web site is served: gunicorn with sync workers (DESIGN §10). ``linli serve``,
``linli demo`` and the benchmarks start it with the same command line."""

from __future__ import annotations

import sys
from collections.abc import Callable


def gunicorn_argv(*, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "linli.wsgi:application",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        "--worker-class", "sync",
        "--no-control-socket",
        "--access-logfile", "-",
        "--timeout", "60",
    ]


# Checks an app registers (in its AppConfig.ready) that must pass before the web site
# starts, e.g. the owners' SMS backend (no sign-in codes in a production log). Each
# raises ImproperlyConfigured with the reason.
_STARTUP_CHECKS: list[Callable[[], None]] = []


def startup_check_register(check: Callable[[], None]) -> None:
    if check not in _STARTUP_CHECKS:
        _STARTUP_CHECKS.append(check)


def refuse_unsafe_settings() -> None:
    """Run the registered start-up checks: ``linli serve`` refuses to start on one."""
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import CommandError

    for check in _STARTUP_CHECKS:
        try:
            check()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
