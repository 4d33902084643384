"""HTTP load generators for the benchmarks (``linli bench notify`` and others).

``fire``: threads, each with its own connection (re-opened when the server closes it —
gunicorn's sync workers close after every response), send a list of requests at a fixed
concurrency and record each one's status and latency. It runs on the same machine as
the server, so every benchmark compares against a baseline measured the same way.

``fire_wrk``: the same list sent by ``wrk`` (one thread, C connections, as the baselines
in the performance reference were measured), with a Lua script that sends the requests
round-robin and counts statuses. On two cores the Python generator takes a large share of
the CPU itself (it caps ``/healthz`` at a few hundred per second); wrk takes little.
"""

from __future__ import annotations

import http.client
import itertools
import json
import shutil
import subprocess
import tempfile
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


# --- wrk ------------------------------------------------------------------------------

WRK_PERCENTILES = (50, 90, 99, 99.9)

_WRK_SCRIPT = """
local reqs = %(requests)s
local formatted, n, i = {}, 0, 0
statuses = {}

function init(args)
  for k, r in ipairs(reqs) do formatted[k] = wrk.format(r[1], r[2], r[3], r[4]) end
  n = #formatted
end

function request()
  i = i %% n + 1
  return formatted[i]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do
      counts[tostring(status)] = (counts[tostring(status)] or 0) + count
    end
  end
  local e = summary.errors
  counts["0"] = e.connect + e.read + e.write + e.timeout
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%%s": %%d', status, count))
  end
  local pct = {}
  for _, p in ipairs({%(percentiles)s}) do
    table.insert(pct, string.format('"%%s": %%.3f', tostring(p), latency:percentile(p) / 1000))
  end
  io.write(string.format('WRK_RESULT {"duration_us": %%d, "requests": %%d, ' ..
    '"statuses": {%%s}, "percentiles_ms": {%%s}}\\n',
    summary.duration, summary.requests, table.concat(parts, ", "), table.concat(pct, ", ")))
end
"""


def _lua_string(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:03d}"
                         for b in data) + '"'


def _lua_request(req: Req) -> str:
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items())
    body = _lua_string(req.body) if req.body else "nil"
    return f"{{{_lua_string(req.method)}, {_lua_string(req.path)}, {{{headers}}}, {body}}}"


@dataclass
class WrkResult:
    """What ``fire_wrk`` measured; the same questions as ``LoadResult`` answers."""

    seconds: float
    count: int
    statuses: Counter
    percentiles: dict[float, float]  # percentile → ms

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        return self.percentiles[p]


def wrk_path() -> str | None:
    return shutil.which("wrk")


def fire_wrk(base_url: str, requests: list[Req], *, concurrency: int, duration_s: float,
             timeout_s: float = 30.0) -> WrkResult:
    """``requests`` round and round for ``duration_s`` seconds at ``concurrency`` by
    ``wrk -t1`` (which must be installed: ``wrk_path()``). Socket errors and timeouts
    count with status 0."""
    if not requests:
        raise ValueError("no requests to send")
    script = _WRK_SCRIPT % {
        "requests": "{\n" + ",\n".join(_lua_request(r) for r in requests) + "\n}",
        "percentiles": ", ".join(str(p) for p in WRK_PERCENTILES),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="loadgen-") as f:
        f.write(script)
        f.flush()
        argv = [wrk_path() or "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
                f"--timeout={max(1, round(timeout_s))}s", "-s", f.name,
                base_url + requests[0].path]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    result = json.loads(line.removeprefix("WRK_RESULT "))
    statuses = Counter({int(k): v for k, v in result["statuses"].items() if v})
    return WrkResult(seconds=result["duration_us"] / 1e6, count=result["requests"],
                     statuses=statuses,
                     percentiles={float(p): ms for p, ms in result["percentiles_ms"].items()})
