"""Absolute URLs people open outside the site (QR codes on receipts and posters)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def public_url(request: HttpRequest | None, path: str) -> str:
    """``path`` on the site's public address: ``LINLI_PUBLIC_URL`` when set (behind a
    proxy the request's own host may be an internal name), else the request's host."""
    base = getattr(settings, "LINLI_PUBLIC_URL", "")
    if base:
        return base + path
    if request is None:
        return path
    return request.build_absolute_uri(path)
