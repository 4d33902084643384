"""How far a long piece of work has got, for a page that shows it while it runs.

The work (an import's reading, checking and saving) says where it is with ``stage`` and
``advance``; whoever runs it in the background wraps it in ``tracking(report)``, and
``report(phase, done, total)`` is called at most every ``interval_s`` seconds and at
each new stage. Outside ``tracking`` both are no-ops, so the same service runs inline
in a web request unchanged.

The report cannot go through the work's own database transaction (nobody else would see
it before the commit), so the background job writes it to the job store instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

Report = Callable[[str, int, int], None]


@dataclass
class _Tracker:
    report: Report
    interval_s: float
    phase: str = ""
    done: int = 0
    total: int = 0
    last_s: float = field(default=0.0)

    def send(self, force: bool = False) -> None:
        now_s = time.monotonic()
        if force or now_s - self.last_s >= self.interval_s:
            self.last_s = now_s
            self.report(self.phase, self.done, self.total)


_current: ContextVar[_Tracker | None] = ContextVar("linli_progress", default=None)


@contextmanager
def tracking(report: Report, *, interval_s: float = 0.5) -> Iterator[None]:
    token = _current.set(_Tracker(report, interval_s))
    try:
        yield
    finally:
        _current.reset(token)


def stage(phase: str, total: int = 0) -> None:
    """A new phase of the work begins, with ``total`` rows to go (0: not known yet)."""
    tracker = _current.get()
    if tracker is not None:
        tracker.phase, tracker.done, tracker.total = phase, 0, total
        tracker.send(force=True)


def advance(rows: int = 1) -> None:
    tracker = _current.get()
    if tracker is not None:
        tracker.done += rows
        tracker.send()
