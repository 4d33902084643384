"""Every server error is logged with its traceback and the request id, and the 500 page
shows that id so staff can quote it; crafted input that used to crash gets a 4xx."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client

from linli.core.logs import JsonFormatter


@pytest.fixture
def server_log():
    """The configured django.request handler, writing into a buffer for the test."""
    handler = next(h for h in logging.getLogger("django.request").handlers)
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield handler, buffer
    handler.setStream(old)


@pytest.fixture
def boom_client(settings):
    settings.ROOT_URLCONF = "linli.core.tests.urls_boom"
    settings.DEBUG = False
    return Client(raise_request_exception=False)


@pytest.mark.django_db
def test_failing_view_logs_traceback_with_the_request_id_shown_on_the_page(
    boom_client, server_log
):
    _handler, log = server_log
    response = boom_client.get("/boom/")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    page = response.content.decode()
    assert request_id in page and "请求编号" in page and "Request id" in page
    written = log.getvalue()
    assert "Traceback" in written and "deliberate failure for the test" in written
    assert f"[{request_id}]" in written


@pytest.mark.django_db
def test_json_lines_when_asked(boom_client, server_log):
    handler, log = server_log
    plain = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        response = boom_client.get("/boom/", HTTP_X_REQUEST_ID="proxy-id-12345678")
    finally:
        handler.setFormatter(plain)
    assert response["X-Request-ID"] == "proxy-id-12345678"
    entry = json.loads(log.getvalue().strip().splitlines()[-1])
    assert entry["request_id"] == "proxy-id-12345678" and entry["level"] == "ERROR"
    assert "RuntimeError" in entry["traceback"]


@pytest.mark.django_db
def test_malformed_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>\n")
    assert response["X-Request-ID"] != "<script>\n"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["status__exact=%00", "q=a%00b", "%00=1"])
def test_nul_byte_in_a_console_list_query_is_a_400(client, query):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "", "x-Linli-2026"))
    response = client.get(f"/console/billing/bill/?{query}")
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
