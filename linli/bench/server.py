"""The real web server for a benchmark: gunicorn, as ``linli serve`` starts it, on a
free port of 127.0.0.1, with the benchmark's own database; stopped by its own process id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from linli.core.serve import gunicorn_argv

HOST = "127.0.0.1"


# Straight to 127.0.0.1, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LiveServer:
    """``with LiveServer(log_path=…) as server: server.url`` — gunicorn with ``workers``
    sync workers (as ``linli serve``), answering ``/healthz`` before the block runs.
    Its access log goes to ``log_path`` (one line per request would flood the bench's
    own output, which must stay one JSON line)."""

    def __init__(self, *, log_path: Path, workers: int | None = None,
                 start_timeout_s: float = 60.0) -> None:
        self.workers = workers or int(os.environ.get("WEB_CONCURRENCY", 2))
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LiveServer:
        argv = gunicorn_argv(host=HOST, port=self.port, workers=self.workers)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=os.environ.copy())
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"gunicorn exited with status {self.process.returncode}; "
                                   f"see {self.log_path}")
            try:
                with _DIRECT.open(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise ServerFailed(f"gunicorn did not answer /healthz within {self.start_timeout_s} s")

    def stop(self) -> None:
        """SIGTERM to our gunicorn's master (it stops its workers), SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
