"""Malformed requests against every page: no server error, no stray money records.

Hypothesis draws requests — a URL the resolver knows (portal and console pages, console
lists with their filters, admin add/change forms and dialogs, notify endpoints), who
sends it (an owner, each staff role, nobody), GET query strings and POST bodies built from
the page's real fields and junk fields, with NUL bytes, invalid UTF-8, huge, negative and
exponent numbers, very long strings, missing fields and odd content types — and sends them
to a small demo estate. Every answer must be below 500; a request refused (4xx, or a form
shown again with errors) must leave the money tables (ledger, payments, refunds,
receipts, billing) as they were; ``linli check`` passes at the end.

Size: ``LINLI_FUZZ_REQUESTS`` (default 2000) requests within ``LINLI_FUZZ_SECONDS``
(default 240) seconds; the run fails if the time runs out first. Run a larger fuzz with,
for example, ``LINLI_FUZZ_REQUESTS=20000 LINLI_FUZZ_SECONDS=3600 pytest
linli/core/tests/fuzz``; ``LINLI_FUZZ_SEED`` repeats a run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
import traceback
from collections import Counter

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.forms import BaseForm
from django.test import Client, override_settings
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from linli.core.invariants import run_all
from linli.core.tests.fuzz import conftest as report
from linli.core.tests.fuzz.strategies import body, page_of, query
from linli.core.tests.fuzz.targets import (
    ANON,
    OWNER,
    Target,
    fill,
    ids_for,
    list_filters,
    targets,
)
from linli.demo import data as demo_data
from linli.demo import plan as demo_plan
from linli.owners import sms
from linli.owners.services import owner_signin_by_code, signin_code_send

REQUESTS = int(os.environ.get("LINLI_FUZZ_REQUESTS", "2000"))
SECONDS = float(os.environ.get("LINLI_FUZZ_SECONDS", "240"))
SEED = int(os.environ.get("LINLI_FUZZ_SEED") or random.SystemRandom().randrange(2**32))

MONEY_APPS = ("ledger", "payments", "refunds", "receipts", "billing")
# Rejected gateway deliveries are kept (truncated) on purpose, for the operator.
NOT_MONEY = {"payments.GatewayNotification"}
# The fields of WeChat Pay v3 (JSON) and Alipay (form) notifications.
NOTIFY_FIELDS = {
    name: [] for name in (
        "id", "create_time", "event_type", "resource_type", "resource", "summary",
        "notify_id", "notify_time", "notify_type", "app_id", "sign", "sign_type", "charset",
        "trade_no", "out_trade_no", "trade_status", "total_amount", "receipt_amount",
        "refund_fee", "gmt_payment", "out_biz_no", "seller_id", "buyer_id", "version")
}
NOTIFY_HEADERS = ["HTTP_WECHATPAY_SIGNATURE", "HTTP_WECHATPAY_TIMESTAMP", "HTTP_WECHATPAY_NONCE",
                  "HTTP_WECHATPAY_SERIAL", "HTTP_WECHATPAY_SIGNATURE_TYPE"]
ODD_METHODS = ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]
JUNK_IDS = ["0", "-1", "99999999999999999999", "1.5", "abc", "%00", "%FF", "1%2F2", "..",
            "1e3", " 1"]


def _small_demo_plan():
    """The demo's communities with fewer buildings, floors and parking spaces: every
    kind of record the demo has (bills, payments, orders, refunds, anomalies), loaded in
    seconds."""
    shrunk = []
    for community in demo_plan.COMMUNITIES:
        buildings = tuple(
            dataclasses.replace(b, floors=3, unsold=min(b.unsold, 1))
            for b in (community.buildings[0], community.buildings[-1])
        )
        parking = tuple(dataclasses.replace(lot, count=4) for lot in community.parking)
        shrunk.append(dataclasses.replace(community, buildings=buildings, parking=parking))
    return tuple(shrunk)


@pytest.fixture
def world(db, monkeypatch, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    monkeypatch.setattr(demo_data, "COMMUNITIES", _small_demo_plan())
    summary = demo_data.load_demo()
    users = {name: User.objects.get(username=name) for name in ("root", *demo_plan.USERNAMES)}
    mobile = summary.owners[0].mobile
    signin_code_send(mobile=mobile, ip="10.0.0.1")
    code = [m for m in sms.outbox if m.mobile == mobile][-1].code
    users[OWNER] = owner_signin_by_code(mobile=mobile, code=code)
    return users


class Fuzzer:
    def __init__(self, users: dict[str, User]) -> None:
        self.users = users
        self.clients = {who: Client(raise_request_exception=False) for who in (*users, ANON)}
        self.pages: dict[str, object] = {}
        self.ids: dict[str, list[str]] = {}
        self.requests = 0
        self.signed_in: set[str] = set()
        self.errors: dict[tuple, str] = {}
        self.stray: list[str] = []
        self.statuses: Counter = Counter()
        self.tables = [
            m._meta.db_table for m in apps.get_models()
            if m._meta.app_label in MONEY_APPS and m._meta.label not in NOT_MONEY
            and not m._meta.proxy and m._meta.managed
        ]
        qn = connection.ops.quote_name
        self.count_sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {qn(t)})"
                                               for t in self.tables)

    def money_rows(self) -> tuple[int, ...]:
        with connection.cursor() as cursor:
            cursor.execute(self.count_sql)
            return tuple(cursor.fetchone())

    def values(self, source: str) -> list[str]:
        if source not in self.ids:
            self.ids[source] = ids_for(source) or ["1"]
        return self.ids[source]

    def client(self, who: str) -> Client:
        """The client of ``who``, signed in again when a request signed it out (or every
        so often: a request may end the session on the server)."""
        client = self.clients[who]
        if who != ANON and (who not in self.signed_in or self.requests % 50 == 0):
            client.force_login(self.users[who])
            self.signed_in.add(who)
        return client

    def page(self, target: Target):
        """The fields of the page, from one plain GET as whoever may see it best."""
        if target.name not in self.pages and not _has_fields(target):
            self.pages[target.name] = page_of("")
        if target.name not in self.pages:
            who = {"console": "root", "portal": OWNER}.get(target.kind, ANON)
            path = fill(target.route, {p: self.values(s)[0] for p, s in target.params.items()})
            response = self.send(target, who, "GET", path, b"", None)
            html = response.content.decode("utf-8", "replace") if self._html(response) else ""
            page = page_of(html)
            if target.name.endswith("_changelist") and target.admin_model:
                page.query.update(list_filters(target.admin_model, self.users["root"]))
            if target.name == "pay:notify":
                page.fields.update(NOTIFY_FIELDS)
            self.pages[target.name] = page
        return self.pages[target.name]

    @staticmethod
    def _html(response) -> bool:
        return (not response.streaming
                and response.get("Content-Type", "").startswith("text/html"))

    def send(self, target: Target, who: str, method: str, path: str, data: bytes,
             content_type: str | None, extra: dict | None = None):
        before = self.money_rows()
        kwargs = {"content_type": content_type} if content_type is not None else {}
        response = self.client(who).generic(method, path, data, **kwargs, **(extra or {}))
        cookie = response.cookies.get(django_settings.SESSION_COOKIE_NAME)
        if cookie is not None and not cookie.value:
            self.signed_in.discard(who)
        exc_info = getattr(response, "exc_info", None)
        if response.streaming:
            try:
                b"".join(response.streaming_content)
            except Exception:  # noqa: BLE001 - a stream that breaks is a server error
                exc_info = exc_info or __import__("sys").exc_info()
                response.status_code = 500
        self.requests += 1
        self.statuses[response.status_code // 100] += 1
        request = f"{who} {method} {path[:300]!r} {content_type!r} body={data[:300]!r}"
        if response.status_code >= 500:
            where = traceback.format_exception(*exc_info)[-3:] if exc_info else ["?"]
            key = (target.name, response.status_code, "".join(where[-1:]))
            self.errors.setdefault(key, f"{request}\n{''.join(where)}")
        elif self._refused(response) and self.money_rows() != before:
            after = self.money_rows()
            changed = [t for t, b, a in zip(self.tables, before, after, strict=True) if b != a]
            self.stray.append(f"{request} -> {response.status_code}, changed {changed}")
        return response

    @staticmethod
    def _refused(response) -> bool:
        if 400 <= response.status_code < 500:
            return True
        for context in response.context or []:
            for value in getattr(context, "flatten", lambda: {})().values():
                if isinstance(value, BaseForm) and value.is_bound and value.errors:
                    return True
        return False


def _has_fields(target: Target) -> bool:
    """Whether a page may hold a form or list links worth a first plain GET (files,
    histories and redirects do not)."""
    if target.route.endswith(("pdf/", ".xlsx", "status/")) or ":console/" in target.name:
        return False
    return not target.name.endswith(("_history", "jsi18n", "view_on_site", "app_list",
                                      "healthz", "set_language", "autocomplete"))


def _path_value(draw, fuzzer: Fuzzer, source: str) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(JUNK_IDS))
    return draw(st.sampled_from(fuzzer.values(source)))


def fuzz(fuzzer: Fuzzer, all_targets: list[Target], *, examples: int, run: int) -> None:
    """``examples`` requests drawn by Hypothesis (one run of a few, so the time limit is
    checked between runs: a run must draw the same way every time)."""

    @seed(SEED + run)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(st.data())
    def one_request(data):
        target = data.draw(st.sampled_from(all_targets), label="target")
        page = fuzzer.page(target)
        who = data.draw(st.sampled_from(target.roles), label="who")
        path = fill(target.route, {p: _path_value(data.draw, fuzzer, s)
                                   for p, s in target.params.items()})
        extra = {}
        if data.draw(st.integers(0, 9)) == 0:
            extra["HTTP_COOKIE"] = "django_language=" + data.draw(st.sampled_from(
                ["en", "zh-hans", "xx", "", "\x7f"]))
        if target.name == "pay:notify":
            for header in data.draw(st.lists(st.sampled_from(NOTIFY_HEADERS), unique=True)):
                extra[header] = data.draw(st.sampled_from(
                    ["", "1", "9" * 30, "-1", "WECHATPAY2-SHA256-RSA2048", "a" * 500, "\x7f"]))
        if data.draw(st.booleans()):
            path += "?" + data.draw(query(page))
            if data.draw(st.integers(0, 9)) == 0:  # not even percent-encoded right
                path += data.draw(st.sampled_from(["&%zz=%", "&a=%ff%fe", "&=&&=", "&a=%u0041"]))
        method = data.draw(st.sampled_from(["GET"] * 6 + ["POST"] * 12 + ODD_METHODS))
        if method in ("GET", "HEAD", "OPTIONS"):
            fuzzer.send(target, who, method, path, b"", None, extra)
        else:
            content, content_type = data.draw(body(page))
            fuzzer.send(target, who, method, path, content, content_type, extra)

    one_request()


@pytest.mark.django_db
def test_malformed_requests_get_no_server_error_and_leave_no_money_records(world):
    all_targets = targets()
    fuzzer = Fuzzer(world)
    started = time.monotonic()
    quiet = [logging.getLogger(n) for n in ("django.request", "django.security", "linli")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        with override_settings(DEBUG_PROPAGATE_EXCEPTIONS=False):
            for target in all_targets:  # first a plain GET of each page: its fields
                fuzzer.page(target)
            run = 0
            while fuzzer.requests < REQUESTS and time.monotonic() - started < SECONDS:
                fuzz(fuzzer, all_targets, examples=min(100, REQUESTS - fuzzer.requests),
                     run=run)
                run += 1
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    seconds = time.monotonic() - started
    report.RESULTS.update(
        requests=fuzzer.requests, seconds=seconds, targets=len(all_targets),
        database=connection.vendor, errors=len(fuzzer.errors), stray=len(fuzzer.stray))
    print(f"\nfuzz: {fuzzer.requests} requests in {seconds:.0f} s, seed {SEED}, "
          f"status classes {dict(fuzzer.statuses)}")
    assert not fuzzer.errors, f"seed {SEED}:\n" + "\n\n".join(fuzzer.errors.values())
    assert not fuzzer.stray, f"seed {SEED}:\n" + "\n".join(fuzzer.stray[:20])
    failed = [f"{r.name}: {v}" for r in run_all() for v in r.violations]
    assert not failed, failed
    assert fuzzer.requests >= REQUESTS, (
        f"only {fuzzer.requests} of {REQUESTS} requests in {SECONDS:.0f} s")


def test_every_url_is_a_fuzz_target():
    """The targets come from the resolver: every portal, console and notify URL."""
    names = {t.name for t in targets()}
    for name in ("portal:pay", "portal:topup", "pay:notify", "owners:signin",
                 "admin:billing_bill_changelist", "admin:payments_paymentanomaly_refund",
                 "counter:deposit", "refunds_portal:apply", "console:estate-import"):
        assert name in names, name


@pytest.mark.django_db
def test_the_fuzzer_reports_a_server_error_and_a_record_left_by_a_refusal(estate, settings):
    settings.ROOT_URLCONF = "linli.core.tests.fuzz.urls_faulty"
    fuzzer = Fuzzer({})
    for name in ("boom", "stray"):
        target = Target(route=f"{name}/", name=name)
        fuzzer.send(target, ANON, "POST", f"/{name}/", b"a=1", "application/x-www-form-urlencoded")
    assert fuzzer.requests == 2
    [error] = fuzzer.errors.values()
    assert "deliberate failure" in error and "/boom/" in error
    [stray] = fuzzer.stray
    assert "/stray/" in stray and "-> 400" in stray and "receipts_receiptsequence" in stray
