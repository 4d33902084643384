"""``linli serve``: the web site under gunicorn (``linli.core.serve``)."""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand

from linli.core.serve import gunicorn_argv, refuse_unsafe_settings


class Command(BaseCommand):
    help = "Serve the web application with gunicorn (sync workers)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("LINLI_HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))

    def handle(self, *args, port, host, workers, **options):
        refuse_unsafe_settings()
        argv = gunicorn_argv(host=host, port=port, workers=workers)
        self.stdout.write(f"Linli serving on http://{host}:{port}/")
        sys.stdout.flush()
        os.execv(argv[0], argv)
