"""Absolute URLs people open outside the site (QR codes on receipts and posters), and
the client's IP address behind trusted reverse proxies."""

from __future__ import annotations

import ipaddress

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


def client_ip(request: HttpRequest) -> str | None:
    """The address of the person making the request, for per-IP limits, audit rows and
    gateway orders (WeChat H5 wants the payer's IP).

    Behind ``LINLI_TRUSTED_PROXY_COUNT`` reverse proxies (default 0: none, use
    ``REMOTE_ADDR``) each proxy appends the address it received from to
    ``X-Forwarded-For``, so the client is the N-th entry from the right; anything left of
    it was written by the client itself and is not trusted. A header with fewer entries
    (some proxy was skipped) gives its leftmost entry; a malformed one, ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = int(getattr(settings, "LINLI_TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    if not hops:
        return remote
    return _ip(hops[-proxies] if len(hops) >= proxies else hops[0]) or remote


def _ip(text: str) -> str | None:
    """``text`` as an IP address, tolerating ``1.2.3.4:5678`` and ``[::1]:5678``."""
    candidates = [text]
    if text.startswith("[") and "]" in text:
        candidates.append(text[1:text.index("]")])
    elif text.count(":") == 1:
        candidates.append(text.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
