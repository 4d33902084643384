"""Pieces both simulators share: a tiny WSGI toolkit, an in-thread HTTP server for
tests and the demo, RSA helpers, and the notification dispatcher with retry schedules.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

log = logging.getLogger("linli.paysim")


# ---------------------------------------------------------------- RSA (SHA256withRSA)

def rsa_generate() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private(pem: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def load_public(pem: str) -> rsa.RSAPublicKey:
    return serialization.load_pem_public_key(pem.encode())


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64 — what both gateways call RSA2 / RSA."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message,
                   padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - any failure (bad base64, bad signature) is "no"
        return False
    return True


# ---------------------------------------------------------------- WSGI toolkit

@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    remote_addr: str = ""

    @classmethod
    def from_environ(cls, environ: dict) -> Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/"),
            query_string=environ.get("QUERY_STRING", ""),
            headers=headers,
            body=body,
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        """Query string and form body merged (python-alipay-sdk GETs everything in the
        query string; the official SDKs POST a form)."""
        merged = self.query
        if "application/x-www-form-urlencoded" in self.headers.get("content-type", ""):
            merged.update(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
        return merged

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), [("Content-Type", "text/html; charset=utf-8")])

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", [("Location", location)])

    def __call__(self, environ, start_response):
        reason = HTTPStatus(self.status).phrase
        start_response(f"{self.status} {reason}",
                       [*self.headers, ("Content-Length", str(len(self.body)))])
        return [self.body]


Handler = Callable[[Request], Response]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class ServerThread:
    """Serve a WSGI app on 127.0.0.1 in a background thread (tests, the demo).

    ``with ServerThread(app) as server: server.url`` → ``http://127.0.0.1:<port>``.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = make_server(host, port, app, server_class=_ThreadingWSGIServer,
                                 handler_class=_QuietHandler)
        self.url = f"http://{host}:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name="paysim-http")

    def start(self) -> ServerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- notification delivery

# Intervals between attempts, in seconds, as the gateways document them.
WECHAT_RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600,
                         10800, 10800, 10800, 21600, 21600)
ALIPAY_RETRY_SCHEDULE = (240, 600, 600, 3600, 7200, 21600, 54000)


@dataclass
class Delivery:
    """One notification to deliver until it is acknowledged or the schedule runs out."""

    url: str
    body: bytes
    headers: dict[str, str]
    is_ack: Callable[[int, bytes], bool]  # (status, response body) → acknowledged?
    schedule: tuple[int, ...]
    label: str = ""  # e.g. out_trade_no, for tests and the control pages
    attempts: list[tuple[float, int, bytes]] = field(default_factory=list)  # (time, status, body)
    acknowledged: bool = False
    given_up: bool = False
    id: int = 0


class Dispatcher:
    """Delivers notifications from a background thread.

    The first attempt goes out at once; after a failure (no acknowledgement, an error,
    a timeout) the next waits the schedule's interval × ``time_scale`` (tests use e.g.
    0.001 so a day of retries takes seconds). ``hold()`` queues without sending, so a
    test can release deliveries in any order with ``release()``.
    """

    def __init__(self, *, time_scale: float = 1.0, timeout: float = 5.0) -> None:
        self.time_scale = time_scale
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: list[tuple[float, int, Delivery]] = []
        self._counter = itertools.count(1)
        self._held = False
        self._held_items: list[Delivery] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="paysim-notify")
        self._thread.start()

    def submit(self, delivery: Delivery, *, delay: float = 0.0) -> Delivery:
        with self._cv:
            delivery.id = next(self._counter)
            self.deliveries.append(delivery)
            if self._held:
                self._held_items.append(delivery)
            else:
                self._push(delivery, delay)
        return delivery

    def hold(self) -> None:
        with self._cv:
            self._held = True

    def release(self, order: Callable[[list[Delivery]], list[Delivery]] | None = None) -> None:
        """Send everything held, in the order ``order`` gives (default: as queued)."""
        with self._cv:
            items = order(self._held_items) if order else self._held_items
            self._held, self._held_items = False, []
            for d in items:
                self._push(d, 0.0)

    def _push(self, delivery: Delivery, delay: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, delivery.id, delivery))
        self._cv.notify()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (tests)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(remaining)
        return True

    _in_flight = 0

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cv.wait(wait)
                if self._stopped:
                    return
                _due, _id, delivery = heapq.heappop(self._queue)
                self._in_flight += 1
            try:
                self._attempt(delivery)
            finally:
                with self._cv:
                    self._in_flight -= 1
                    self._cv.notify_all()

    def _attempt(self, d: Delivery) -> None:
        request = urllib.request.Request(d.url, data=d.body, headers=d.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (OSError, TimeoutError) as exc:
            status, body = 0, str(exc).encode()
        d.attempts.append((time.time(), status, body))
        if d.is_ack(status, body):
            d.acknowledged = True
            return
        retry = len(d.attempts) - 1
        if retry >= len(d.schedule):
            d.given_up = True
            log.info("notification %s given up after %d attempts", d.label, len(d.attempts))
            return
        with self._cv:
            self._push(d, d.schedule[retry] * self.time_scale)
