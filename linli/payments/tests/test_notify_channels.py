"""The WeChat Pay and Alipay notification endpoints cost an attacker more than us:
100 bodies of 1 MB grow the database by less than 1 MB, a body over the limit is
refused without being read, and a real notification (signed by the live simulator)
still pays its order end to end through the HTTP endpoint, whatever else its sender
address sent. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Length
from django.test import RequestFactory

from linli import testing as t
from linli.core.models import AuditEvent
from linli.payments.models import (
    Channel,
    GatewayNotification,
    MerchantAccount,
    NotificationDropTally,
    Payment,
    PaymentOrder,
)
from linli.payments.orders import order_create
from linli.payments.tests.helpers import billed_unit, check_ok
from linli.payments.views_notify import notify
from linli.paysim.tests.conftest import alipay_ack
from linli.staff.models import Role

MB = 1024 * 1024
REJECTED = GatewayNotification.Outcome.REJECTED


@pytest.fixture(params=[Channel.WECHAT, Channel.ALIPAY])
def shop(request, estate, sink):
    """A community with billed units and a merchant account at the live simulator of
    the channel, whose notifications land in ``sink`` (we then POST them ourselves)."""
    channel = request.param
    sim = request.getfixturevalue("wechat_sim" if channel == Channel.WECHAT else "alipay_sim")
    if channel == Channel.ALIPAY:
        sink.handler = alipay_ack
    fields = sim.provision_merchant()
    fields.pop("notify_url")
    fields.pop("channel")
    account = MerchantAccount.objects.create(community=estate["a1"], channel=channel,
                                             notify_base_url=sink.url, **fields)
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]])
    return {"channel": channel, "sim": sim, "sink": sink, "account": account,
            "cashier": cashier, **estate}


def paid_at_gateway(shop, room: str) -> tuple[PaymentOrder, dict[str, str], bytes]:
    """An order paid at the simulator; returns it and the notification the gateway sent."""
    _unit, bills = billed_unit(shop["a1"], room=room)
    mode = "native" if shop["channel"] == Channel.WECHAT else "precreate"
    order = order_create(payer=shop["cashier"], channel=shop["channel"], mode=mode,
                         idempotency_key=f"notify-{room}", bill_ids=[b.pk for b in bills])
    before = len(shop["sink"].received)
    shop["sim"].pay(order.out_trade_no)
    received = shop["sink"].wait_for(before + 1)[before]
    assert received.path == shop["account"].notify_path()
    return order, received.headers, received.body


def post(client, account, headers: dict[str, str], body: bytes, ip: str = "203.0.113.7"):
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
            if k not in ("content-type", "content-length")}
    return client.post(account.notify_path(), data=body,
                       content_type=headers.get("content-type", "application/json"),
                       REMOTE_ADDR=ip, **meta)


def assert_refused(channel: str, response) -> None:
    """The protocol's failure answer, never an HTML page; a 4xx, so a stranger's junk
    writes no server error to the operator's log."""
    assert 400 <= response.status_code < 500
    if channel == Channel.WECHAT:
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content)["code"] == "FAIL"
    else:
        assert response.content == b"fail"
        assert response["Content-Type"].startswith("text/plain")


def database_bytes() -> int:
    """What the database occupies: every table with its indexes and TOAST on
    PostgreSQL; pages times page size on SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'r' AND n.nspname = current_schema()")
            return int(cursor.fetchone()[0])
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return pages * cursor.fetchone()[0]


def test_a_hundred_bodies_of_1mb_grow_the_database_by_less_than_1mb(shop, client):
    """From 100 different senders (so the per-sender limit does not help): each is
    refused with the protocol's answer and kept as 2 KB, its size and sender."""
    account = shop["account"]
    before = database_bytes()
    for i in range(100):
        body = base64.b64encode(os.urandom(768 * 1024))  # 1 MB that does not compress
        assert len(body) == MB
        response = post(client, account, {"content-type": "application/json"}, body,
                        ip=f"198.51.100.{i + 1}")
        assert_refused(shop["channel"], response)
        assert response.status_code == 413
    grown = database_bytes() - before
    assert grown < MB, f"the database grew by {grown} bytes"
    rejected = GatewayNotification.objects.filter(outcome=REJECTED)
    assert rejected.count() == 100 and set(rejected.values_list("error", flat=True)) == {
        "too_large"}
    assert set(rejected.values_list("body_size", flat=True)) == {MB}
    assert all(rejected.values_list("body_truncated", flat=True))
    assert rejected.aggregate(n=Sum(Length("body")))["n"] <= 100 * 2048
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY).count() == 100


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    taken = 0

    def read(self, size=-1):
        data = super().read(size)
        self.taken += len(data)
        return data


def raw_request(path: str, stream, content_length: int):
    """A POST whose body is ``stream`` and whose Content-Length is ``content_length``."""
    environ = RequestFactory()._base_environ(
        PATH_INFO=path, REQUEST_METHOD="POST", CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(content_length), **{"wsgi.input": stream})
    return WSGIRequest(environ)


def test_a_body_over_the_limit_is_refused_without_being_read(shop, settings):
    account = shop["account"]
    stream = CountingStream(b"x" * (5 * MB))
    response = notify(raw_request(account.notify_path(), stream, 5 * MB), shop["channel"],
                      account.pk)
    assert_refused(shop["channel"], response)
    assert response.status_code == 413
    assert stream.taken <= settings.LINLI_NOTIFY_REJECTED_KEEP_BYTES
    note = GatewayNotification.objects.get()
    assert note.outcome == REJECTED and note.error == "too_large"
    assert note.body_size == 5 * MB and note.body_sha256 == "" and note.body_truncated
    assert note.body == "x" * settings.LINLI_NOTIFY_REJECTED_KEEP_BYTES


def test_nothing_past_the_declared_length_is_read(shop):
    account = shop["account"]
    stream = CountingStream(b"{}" + b"y" * MB)
    response = notify(raw_request(account.notify_path(), stream, 2), shop["channel"],
                      account.pk)
    assert_refused(shop["channel"], response)
    assert stream.taken == 2
    note = GatewayNotification.objects.get()
    assert note.body == "{}" and note.body_size == 2 and not note.body_truncated


def test_a_real_notification_pays_through_the_endpoint_despite_junk_from_its_sender(
        shop, client, settings):
    """The gateway's address has already sent more rejected deliveries than the limit
    (those beyond it only counted); its real notification is verified, stored whole and
    applied, and the redelivery is acknowledged without paying twice."""
    settings.LINLI_NOTIFY_REJECTS_PER_IP = 3
    account = shop["account"]
    order, headers, body = paid_at_gateway(shop, "901")
    for i in range(5):
        assert_refused(shop["channel"], post(client, account, headers, b"%d" % i + body))
    assert GatewayNotification.objects.filter(outcome=REJECTED).count() == 3
    assert NotificationDropTally.objects.get(account=account).count == 2
    response = post(client, account, headers, body)
    if shop["channel"] == Channel.WECHAT:
        assert response.status_code == 204
    else:
        assert response.status_code == 200 and response.content == b"success"
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID and order.payment.amount_fen == 10000
    note = GatewayNotification.objects.exclude(outcome=REJECTED).get()
    assert note.outcome == GatewayNotification.Outcome.APPLIED
    assert note.body == body.decode() and note.body_size == len(body)
    assert note.body_sha256 == hashlib.sha256(body).hexdigest() and not note.body_truncated
    assert note.remote_addr == "203.0.113.7"
    again = post(client, account, headers, body)
    assert again.status_code in (200, 204) and again.content in (b"", b"success")
    assert Payment.objects.count() == 1
    assert GatewayNotification.objects.filter(
        outcome=GatewayNotification.Outcome.DUPLICATE).count() == 1
    check_ok()


MALFORMED = {
    "empty": ("application/json", b""),
    "nul_bytes": ("application/json", b'{"id": "\x00\x00", "resource": {}}\x00'),
    "bad_utf8": ("application/json", b'{"id": "\xff\xfe\xc3\x28"}'),
    "bad_gbk_form": ("application/x-www-form-urlencoded; charset=gbk",
                     b"charset=gbk&sign=%FF%00&out_trade_no=%81"),
    "nul_in_form": ("application/x-www-form-urlencoded", b"sign=a%00b&notify_id=\x00"),
    "multipart": ("multipart/form-data; boundary=zz", b"--zz\r\nbroken"),
    "xml": ("text/xml", b"<xml><return_code>SUCCESS</return_code></xml>"),
    "no_content_type": ("", b"sign=x"),
    "huge_numbers": ("application/json", b'{"amount": {"total": 1e999999}, "id": -1' + b"9" * 5000),
    "json_array": ("application/json", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_deliveries_get_the_protocols_answer_and_are_kept_small(shop, client, case):
    content_type, body = MALFORMED[case]
    headers = {"content-type": content_type, "wechatpay-serial": "PUB_KEY_ID_\x00",
               "wechatpay-signature": "a" * 5000, "wechatpay-timestamp": "1e9",
               "wechatpay-nonce": "n\x00n"}
    assert_refused(shop["channel"], post(client, shop["account"], headers, body))
    note = GatewayNotification.objects.get()
    assert note.outcome == REJECTED and note.error
    assert "\x00" not in note.body and "\x00" not in json.dumps(note.headers)
    assert len(note.body) <= 2048 and note.body_size == len(body)
    assert note.body_sha256 == hashlib.sha256(body).hexdigest()
    assert len(json.dumps(note.headers)) < 4096
    assert PaymentOrder.objects.count() == 0
