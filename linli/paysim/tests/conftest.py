"""Shared, channel-neutral fixtures for the simulators and the gateway adapters.

Append only: both the WeChat and the Alipay engineers add fixtures here.
(``linli/payments/gateways/tests/conftest.py`` re-exports them for the adapter tests.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from linli.paysim.common import Dispatcher, Request, Response, ServerThread


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float


@dataclass
class NotifySink:
    """A merchant's notification endpoint: records every request and answers with
    ``handler(received) -> Response`` (default 204 for everything).

    ``url`` is the base URL; any path below it is accepted (e.g. ``url + "/notify"``).
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    handler: object = None
    _cv: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, environ, start_response):
        request = Request.from_environ(environ)
        item = Received(request.path, request.headers, request.body, time.monotonic())
        handler = self.handler
        response = handler(item) if handler else Response(204)
        with self._cv:
            self.received.append(item)
            self._cv.notify_all()
        return response(environ, start_response)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} notifications, got {len(self.received)}")
                self._cv.wait(remaining)
            return list(self.received)

    def reset(self) -> None:
        with self._cv:
            self.received.clear()
            self.handler = None


@pytest.fixture(scope="module")
def notify_sink():
    sink = NotifySink()
    with ServerThread(sink) as server:
        sink.url = server.url
        yield sink


@pytest.fixture
def sink(notify_sink):
    """The module's notification sink, emptied and answering 204 for each test."""
    notify_sink.reset()
    yield notify_sink
    notify_sink.reset()


@pytest.fixture(scope="module")
def paysim_dispatcher():
    """A dispatcher whose retry schedule runs 1000× faster (15 s → 15 ms)."""
    dispatcher = Dispatcher(time_scale=0.001, timeout=2.0)
    yield dispatcher
    dispatcher.stop()


@pytest.fixture(scope="module")
def wechat_server(paysim_dispatcher):
    """A live WeChat Pay simulator: ``(sim, server)``; ``sim.public_url == server.url``."""
    from linli.paysim.wechat import WeChatSim

    sim = WeChatSim(dispatcher=paysim_dispatcher, refund_delay=None)
    with ServerThread(sim) as server:
        sim.public_url = server.url
        yield sim, server


@pytest.fixture
def wechat_sim(wechat_server):
    """The module's WeChat simulator with faults cleared before and after each test."""
    sim, _server = wechat_server
    sim.clear_faults()
    sim.refund_delay = None
    yield sim
    sim.clear_faults()
    if sim.dispatcher._held:
        sim.release_notifications()


# ---------------------------------------------------------------- Alipay

def alipay_ack(_received: Received) -> Response:
    """What a merchant answers to acknowledge an Alipay notification."""
    return Response(200, b"success", [("Content-Type", "text/plain")])


@pytest.fixture(scope="module")
def alipay_server(paysim_dispatcher):
    """A live Alipay simulator: ``(sim, server)``; ``sim.public_url == server.url``."""
    from linli.paysim.alipay import AlipaySim

    sim = AlipaySim(dispatcher=paysim_dispatcher)
    with ServerThread(sim) as server:
        sim.public_url = server.url
        yield sim, server


@pytest.fixture
def alipay_sim(alipay_server):
    """The module's Alipay simulator with faults cleared before and after each test."""
    sim, _server = alipay_server
    sim.clear_faults()
    yield sim
    sim.clear_faults()
    if sim.dispatcher._held:
        sim.release_notifications()


@pytest.fixture(scope="module")
def alipay_merchant(alipay_server, notify_sink):
    """An app provisioned on the module's Alipay simulator, notifying the module's sink
    at ``/notify/alipay``: the ``MerchantConfig`` fields as a dict."""
    sim, _server = alipay_server
    return sim.provision_merchant(notify_url=notify_sink.url + "/notify/alipay")
