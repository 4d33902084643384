"""A small HTTP load generator for the benchmarks (``linli bench notify`` and others).

Threads, each with its own connection (re-opened when the server closes it — gunicorn's
sync workers close after every response), send a list of requests at a fixed
concurrency and record each one's status and latency. It runs on the same machine as
the server, so every benchmark compares against a baseline measured the same way.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float]
    statuses: Counter

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]


def fire(base_url: str, requests: list[Req], *, concurrency: int,
         timeout: float = 30.0, duration_s: float | None = None) -> LoadResult:
    """Send ``requests`` (in order, ``concurrency`` at a time); return what happened.
    A request that fails at the socket level counts with status 0.

    With ``duration_s``, the list is sent round and round until that many seconds have
    passed (requests in flight then still finish and count)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname, parts.port or 80
    cursor = itertools.count()
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()

    deadline = None if duration_s is None else time.perf_counter() + duration_s

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        mine_lat, mine_status = [], Counter()
        while True:
            i = next(cursor)
            if deadline is None:
                if i >= len(requests):
                    break
                req = requests[i]
            elif time.perf_counter() >= deadline or not requests:
                break
            else:
                req = requests[i % len(requests)]
            started = time.perf_counter()
            try:
                conn.request(req.method, req.path, body=req.body or None, headers=req.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            mine_lat.append((time.perf_counter() - started) * 1000)
            mine_status[status] += 1
        conn.close()
        with lock:
            latencies.extend(mine_lat)
            statuses.update(mine_status)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(time.perf_counter() - started, latencies, statuses)
