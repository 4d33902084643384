"""Both load generators send every request of the list round-robin and count what came
back by status, so a page that turned into a redirect shows in the figures."""

from __future__ import annotations

import http.server
import threading
from collections import Counter

import pytest

from linli.bench.loadgen import Req, fire, fire_wrk, wrk_path


@pytest.fixture
def server():
    """Answers 200 to the cookie "who=a", 302 to anyone else; remembers who asked."""
    seen: Counter = Counter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            who = self.headers.get("Cookie", "")
            seen[who] += 1
            self.send_response(200 if who == "who=a" else 302)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a load generator hangs up on requests still in flight when it stops

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()
    httpd.server_close()


REQUESTS = [Req("GET", "/page", headers={"Cookie": "who=a"}),
            Req("GET", "/page", headers={"Cookie": 'who="b\\'})]  # quotes survive


def test_python_load_generator_counts_statuses(server):
    url, seen = server
    result = fire(url, REQUESTS * 5, concurrency=2)
    assert result.statuses == Counter({200: 5, 302: 5})
    assert seen == Counter({"who=a": 5, 'who="b\\': 5})


@pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed")
def test_wrk_sends_the_list_round_robin_and_counts_statuses(server):
    url, seen = server
    result = fire_wrk(url, REQUESTS, concurrency=2, duration_s=1)
    assert set(result.statuses) == {200, 302}
    assert abs(result.statuses[200] - result.statuses[302]) <= 2  # one list, round-robin
    assert result.count == sum(result.statuses.values()) > 10
    assert set(seen) == {"who=a", 'who="b\\'}
    assert result.per_s > 0
    assert 0 < result.percentile_ms(50) <= result.percentile_ms(99)
