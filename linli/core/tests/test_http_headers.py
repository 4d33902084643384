"""HTTP hardening: a Content-Security-Policy on every page (strict on the portal, with
only what the console's theme needs on the console, nothing from another host),
Referrer-Policy, Permissions-Policy, a favicon; HSTS and the HTTPS redirect with
LINLI_HTTPS=1; the proxy's protocol header trusted only behind a configured proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User

from linli import testing as t


def directives(header: str) -> dict[str, list[str]]:
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.django_db
def test_portal_pages_get_the_strict_policy(client):
    response = client.get("/m/account/signin/")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


@pytest.mark.django_db
def test_console_pages_render_with_a_policy_that_names_no_other_host(client):
    client.force_login(User.objects.create_superuser("root", "", t.PASSWORD))
    for url in ("/console/", "/console/estate/unit/", "/console/login/"):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        policy = directives(response["Content-Security-Policy"])
        assert "'unsafe-eval'" in policy["script-src"]  # unfold's Alpine.js
        every_source = {s for sources in policy.values() for s in sources}
        assert not {s for s in every_source if "." in s or s.startswith("http")}, url


@pytest.mark.django_db
def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and b"<svg" in b"".join(icon.streaming_content)


def settings_under(**env) -> dict:
    """The security settings a fresh process gets from these environment variables."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k, None) for k in ('SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE')}))"
    )
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "linli.settings", **env}
    full_env.pop("LINLI_HTTPS", None) if "LINLI_HTTPS" not in env else None
    out = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_https_turns_on_hsts_and_the_redirect_and_trusts_no_proxy_header_by_default():
    plain = settings_under(LINLI_HTTPS="0", LINLI_TRUSTED_PROXY_COUNT="0")
    assert not plain["SECURE_SSL_REDIRECT"] and not plain["SECURE_HSTS_SECONDS"]
    https = settings_under(LINLI_HTTPS="1", LINLI_TRUSTED_PROXY_COUNT="0")
    assert https["SECURE_SSL_REDIRECT"] and https["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert https["SECURE_PROXY_SSL_HEADER"] is None  # a client could send the header
    proxied = settings_under(LINLI_HTTPS="1", LINLI_TRUSTED_PROXY_COUNT="1")
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.django_db
def test_https_redirect_and_hsts_on_responses(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    assert client.get("/m/account/signin/").status_code == 301
    secure = client.get("/m/account/signin/", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    # The forged header of a client is not believed without a configured proxy.
    forged = client.get("/m/account/signin/", HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301
