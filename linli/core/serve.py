"""How the web site is served: gunicorn with sync workers (DESIGN §10). ``linli serve``,
``linli demo`` and the benchmarks start it with the same command line."""

from __future__ import annotations

import sys


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
