"""Staff sign-in that cannot be guessed at, and sessions that end when left alone.

Throttling is django-axes (configured in settings: ``LINLI_SIGNIN_FAILURES`` wrong
passwords lock that user name, and separately that IP address, for
``LINLI_SIGNIN_LOCK_MINUTES``; during the lock even the right password is refused with
the page ``staff/locked_out.html``). ``SignInThrottleBackend`` is axes' check, for
sign-ins made through a page (the console's login form); a lockout is written to the
audit log by ``record_lockout``.

``StaffIdleTimeoutMiddleware`` ends a staff session after ``LINLI_STAFF_IDLE_MINUTES``
without a request (the session's expiry is moved forward as the person works); owners'
sessions keep their own lifetime.
"""

from __future__ import annotations

import time

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext

from linli.core.audit import audit_record
from linli.core.http import client_ip
from linli.core.models import AuditEvent

SEEN_KEY = "staff_seen"
# The session's expiry is written again at most this often (a write per request would
# cost every console page a database write).
REFRESH_EVERY_S = 60


class SignInThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check for sign-ins made through a page. A sign-in with no request
    (an owner's password sign-in, which has its own limits, or a script) is not a staff
    page's and is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the page that says the sign-in is locked, and for how
    long, in Chinese (with English), as 429 Too Many Requests."""
    return render(request, "staff/locked_out.html", {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": settings.LINLI_SIGNIN_LOCK_MINUTES,
    }, status=429)


def record_lockout(sender, request, username, ip_address, **kwargs) -> None:
    """Receiver of axes' ``user_locked_out``: the lock goes into the audit log."""
    audit_record(
        actor=None, action=AuditEvent.Action.SECURITY,
        summary=gettext("Sign-in locked after too many wrong passwords: %(user)s")
        % {"user": username or "-"},
        changes={"username": username or "", "ip": ip_address or ""},
        ip=client_ip(request) if request is not None else ip_address,
    )


class StaffIdleTimeoutMiddleware:
    """A staff member's session expires ``LINLI_STAFF_IDLE_MINUTES`` after their last
    request: each request (at most once a minute) moves the session's expiry forward.
    Only staff sessions: an owner's session is left as the portal set it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            session = request.session
            now_s = int(time.time())
            seen = session.get(SEEN_KEY)
            if seen is None or now_s - int(seen) >= REFRESH_EVERY_S:
                session[SEEN_KEY] = now_s
                session.set_expiry(settings.LINLI_STAFF_IDLE_MINUTES * 60)
        return self.get_response(request)
