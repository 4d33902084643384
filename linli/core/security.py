"""HTTP headers every page carries: a Content-Security-Policy (django-csp) and a
Permissions-Policy.

The owner portal and the public pages get the strict policy (``CONTENT_SECURITY_POLICY``
in settings: scripts only from our own static files, nothing from another host). The
staff console gets ``LINLI_CSP_CONSOLE``: its theme (django-unfold) runs Alpine.js,
which evaluates its attributes as code ('unsafe-eval'), and the counter pages keep small
inline scripts ('unsafe-inline') — still nothing from another host.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings

CONSOLE_PREFIX = "/console/"


class SiteCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the console's policy on console pages."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and parts.config is None \
                and request.path_info.startswith(CONSOLE_PREFIX):
            parts.config = settings.LINLI_CSP_CONSOLE
        return parts


class PermissionsPolicyMiddleware:
    """No page of ours uses the camera, microphone, location, USB or payment APIs, so a
    script injected into one cannot either."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.LINLI_PERMISSIONS_POLICY)
        return response
