"""Running the web server and the background worker side by side for ``linli demo``.

The two run as child processes, each in its own process group so that a signal reaches
everything it started (gunicorn's workers too, even if its master has crashed).
``Supervisor.check`` turns "someone pressed Ctrl-C" or "a child died" into an exception
the caller handles; ``Supervisor.stop`` asks each group to finish (gunicorn: SIGTERM,
Huey: SIGINT, both graceful) and kills whatever is still running after a deadline. On
Linux the children also get SIGTERM if ``linli demo`` is killed outright, so no orphan
keeps the port or the job store.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from django.utils.translation import gettext as _

from linli.core.tasks import ping

_PR_SET_PDEATHSIG = 1


class StopRequested(Exception):
    """SIGINT or SIGTERM reached ``linli demo``."""


class ChildExited(Exception):
    def __init__(self, child: Child, returncode: int) -> None:
        super().__init__(child.name, returncode)
        self.child = child
        self.returncode = returncode


class NotReady(Exception):
    """The web server or the worker did not come up in time."""


@dataclass
class Child:
    name: str  # shown to the user: "web", "worker"
    argv: list[str]
    stop_signal: int
    process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


# Looked up in the parent: the child, between fork and exec, only calls it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, children: list[Child], *, env: dict[str, str]) -> None:
        self.children = children
        self.env = env
        self.stop_signal: int | None = None
        self.signals_received = 0
        self._previous_handlers: dict[int, object] = {}

    # --- signals -----------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGINT, SIGTERM and SIGHUP only set a flag; the loops look at it in ``check``."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = self.stop_signal or signum
        self.signals_received += 1

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Each child leads a new session, so Ctrl-C reaches only ``linli demo``, which
        then stops the children in its own way."""
        for child in self.children:
            child.process = subprocess.Popen(
                child.argv, env=self.env, start_new_session=True, preexec_fn=_die_with_parent
            )

    def check(self) -> None:
        """Raise ``StopRequested`` after a stop signal, else ``ChildExited`` when a child
        has died."""
        if self.stop_signal is not None:
            raise StopRequested(self.stop_signal)
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                raise ChildExited(child, child.process.returncode)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        self.check()

    def stop(self, *, timeout_s: float = 20.0) -> None:
        """Ask every child's process group to stop and wait until all of it is gone.
        After ``timeout_s``, or at a second Ctrl-C, kill what is left."""
        started = [c for c in self.children if c.process is not None]
        for child in started:
            _signal_group(child, child.stop_signal)
        deadline = time.monotonic() + timeout_s
        signals_before = self.signals_received
        killed = False
        while not all(_finished(child) for child in started):
            hurry = self.signals_received > signals_before
            if not killed and (hurry or time.monotonic() > deadline):
                for child in started:
                    _signal_group(child, signal.SIGKILL)
                killed = True
            time.sleep(0.1)


def _finished(child: Child) -> bool:
    """The child has exited (and is reaped) and nothing it started is left."""
    return child.process.poll() is not None and not _group_alive(child)


def _signal_group(child: Child, signum: int) -> None:
    try:
        os.killpg(child.process.pid, signum)
    except ProcessLookupError:  # the whole group has exited
        pass


def _group_alive(child: Child) -> bool:
    try:
        os.killpg(child.process.pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- readiness ----------------------------------------------------------------------------
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_until_ready(supervisor: Supervisor, *, health_url: str, timeout_s: float = 60.0,
                     worker: bool = True) -> None:
    """Return once ``health_url`` answers 200 and (``worker``) a worker has run a
    ``ping`` job."""
    deadline = time.monotonic() + timeout_s
    last_answer = _("no answer")
    while True:
        supervisor.check()
        try:
            with _NO_PROXY.open(health_url, timeout=2) as response:
                if response.status == 200:
                    break
        except urllib.error.HTTPError as exc:
            last_answer = f"HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}"
        except OSError as exc:
            last_answer = str(exc)
        if time.monotonic() > deadline:
            raise NotReady(
                _("%(url)s did not answer 200 within %(seconds)d s (last: %(answer)s)")
                % {"url": health_url, "seconds": timeout_s, "answer": last_answer}
            )
        supervisor.sleep(0.2)
    if worker:
        _wait_for_worker(supervisor, deadline)


def _wait_for_worker(supervisor: Supervisor, deadline: float) -> None:
    token = uuid.uuid4().hex
    result = ping(token)
    while result.get() != token:
        if time.monotonic() > deadline:
            raise NotReady(_("the background worker did not run a test job in time"))
        supervisor.sleep(0.2)


def child_env() -> dict[str, str]:
    """The children see the same data folder, database and job store as ``linli demo``."""
    from django.conf import settings

    env = dict(os.environ)
    env["LINLI_HOME"] = str(settings.LINLI_HOME)
    env.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    return env
