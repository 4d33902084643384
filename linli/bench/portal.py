"""``linli bench portal [--bills N]``: the owners' bills page through the real server.

A community with about N bills: ``N / 28`` units (each month a unit is billed by area,
a fixed fee, and for every third unit a parking space: 7/3 bills), one real bill run
for this month copied to the eleven months before it (bills and receivables, at bulk
speed), every unit with a paying owner. A sample of owners is signed in the way
``Client.force_login`` does it (a session in the session store carrying the auth keys;
its cookie goes with each request). gunicorn is started as ``linli serve`` starts it;
the owners' bills pages are loaded round-robin at concurrency C for the duration (after a
3-second warm-up), then ``/healthz`` the same way, by wrk (``wrk -t1 -cC``, as the
baselines in the performance reference) when it is installed, else by the Python load
generator. ``ratio`` = bills_page_per_s / healthz_per_s.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse

from linli.bench import data
from linli.bench.loadgen import Req, fire, fire_wrk, wrk_path
from linli.bench.server import LiveServer

MONTHS = 12
WARM_UP_S = 3.0


def bench_portal(options) -> dict:
    bills_n, concurrency, duration_s = options["bills"], options["concurrency"], options["duration"]
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    units = max(1, round(bills_n / (MONTHS * data.BILLS_PER_UNIT_MONTH)))
    community = data.build_community(units, data.current_period_key())
    data.analyze()  # the bill run's unit checks need statistics that know the new units
    run = data.issue_current_month(community)
    bills = run.bill_count + data.copy_bills_to_earlier_months(run, MONTHS - 1)
    user_ids = data.add_owners(community, users=min(options["owners"], units))
    data.analyze()
    build_s = time.perf_counter() - started
    page_name, path = bills_page()
    requests = [Req("GET", path, headers={"Cookie": cookie}) for cookie in sign_in(user_ids)]
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp, \
            LiveServer(log_path=Path(tmp) / "gunicorn.log") as server:
        page_bytes = _one_page(server.url, requests[0])
        load = _load_function()
        load(server.url, requests, concurrency=concurrency, duration_s=min(WARM_UP_S, duration_s))
        page = load(server.url, requests, concurrency=concurrency, duration_s=duration_s)
        health = load(server.url, [Req("GET", "/healthz")], concurrency=concurrency,
                      duration_s=duration_s)
    return {
        "bench": "portal",
        "page": page_name,
        "bills": bills,
        "units": units,
        "owners_signed_in": len(requests),
        "concurrency": concurrency,
        "duration_s": duration_s,
        "bills_page_per_s": round(page.per_s, 1),
        "p50_ms": round(page.percentile_ms(50), 1),
        "p99_ms": round(page.percentile_ms(99), 1),
        "healthz_per_s": round(health.per_s, 1),
        "healthz_p99_ms": round(health.percentile_ms(99), 1),
        "ratio": round(page.per_s / health.per_s, 3) if health.per_s else 0.0,
        "page_bytes": page_bytes,
        "statuses": {str(k): v for k, v in sorted(page.statuses.items())},
        "database": connection.vendor,
        "loadgen": "wrk" if load is fire_wrk else "python",
        "build_seconds": round(build_s, 3),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def _load_function():
    """wrk when it is installed (as the baselines were measured), else the Python load
    generator, with a note: on two cores it costs the server a large share of the CPU,
    /healthz most of all, so its ratio reads low."""
    if wrk_path():
        return fire_wrk
    print("note: wrk is not installed (apt-get install wrk); using the Python load generator,"
          " which shares the CPU with the server and caps /healthz", file=sys.stderr)
    return fire


def bills_page() -> tuple[str, str]:
    """The portal's bills list, or its home page where the bills list is not built yet."""
    for name in ("portal:bills", "portal:home"):
        try:
            return name, reverse(name)
        except NoReverseMatch:
            continue
    raise NoReverseMatch("the owner portal has neither a bills nor a home page")


def sign_in(user_ids: list[int]) -> list[str]:
    """A session per user, as ``Client.force_login`` makes one; returns Cookie headers
    (the session's, and a CSRF cookie as the browser has from an earlier page)."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[-1]  # the password backend (first: axes)
    cookies = []
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        session = store()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}; "
                       f"{settings.CSRF_COOKIE_NAME}={_csrf_secret()}")
    return cookies


def _csrf_secret() -> str:
    """A CSRF cookie value, as a browser holds one after its first page (without it, every
    page would make and set a new one)."""
    request = HttpRequest()
    get_token(request)
    return request.META["CSRF_COOKIE"]


class PageFailed(RuntimeError):
    pass


def _one_page(base_url: str, request: Req) -> int:
    """Load one owner's page before timing: it must answer 200 itself (a redirect to
    the sign-in page would mean the session did not work). Returns its size in bytes."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(urllib.request.Request(base_url + request.path,
                                                headers=request.headers), timeout=60) as r:
            return len(r.read())
    except urllib.error.HTTPError as exc:
        raise PageFailed(f"{request.path} answered {exc.code} for a signed-in owner") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
