"""What a delivery to a notification endpoint may cost us: little, whoever sends it.

The endpoints are public and unauthenticated until verified, so:

- **Bounded read.** WeChat Pay and Alipay notifications are a few KB. A body larger than
  ``LINLI_NOTIFY_MAX_BYTES`` (by its Content-Length, or by what arrives) is refused
  after reading only its first ``LINLI_NOTIFY_REJECTED_KEEP_BYTES``; nothing reads more
  than the limit plus one byte (``delivery_read``).
- **Verify before writing anything large.** Only a verified notification is stored whole
  (``notifications.notification_receive``): it is evidence and is kept for ever.
- **Rejected deliveries stored small** (``rejected_store``): the start of the body, its
  size, its SHA-256 when it was read whole, a bounded set of headers, the sender and the
  reason; deleted after ``LINLI_NOTIFY_REJECTED_RETENTION_DAYS`` (``rejected_prune``,
  a nightly job).
- **Rate limit per sender.** Once a sender has ``LINLI_NOTIFY_REJECTS_PER_IP`` rejected
  deliveries stored within ``LINLI_NOTIFY_REJECT_WINDOW_MINUTES``, its further rejected
  deliveries are answered the same way but only counted (``NotificationDropTally``, one
  row per account, sender and hour). The count is read from the database, so it holds
  across web workers with SQLite or PostgreSQL alike. Verified notifications are never
  limited: a gateway's real notifications get through whatever else its address sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from linli.payments.models import GatewayNotification, MerchantAccount, NotificationDropTally

logger = logging.getLogger("linli.payments")

REJECTED = GatewayNotification.Outcome.REJECTED

# Headers kept with a notification: each value cut to this many characters, and no more
# headers once the total passes the budget. A verified notification's headers (signature
# ~350 characters) fit easily; a rejected one keeps less.
HEADER_VALUE_MAX = 1024
HEADERS_TOTAL_MAX = 8 * 1024
REJECTED_HEADER_VALUE_MAX = 256
REJECTED_HEADERS_TOTAL_MAX = 2048
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Delivery:
    """One request to a notification endpoint, as far as it was read."""

    headers: dict[str, str]
    body: bytes          # the whole body, or its first KEEP bytes when ``complete`` is False
    size: int            # bytes received, or declared by Content-Length when not read
    complete: bool       # False: too large, read only in part


def request_headers(meta: dict) -> dict[str, str]:
    """HTTP headers from a WSGI environ, with lower-case, dash-separated names."""
    headers = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers[key.replace("_", "-").lower()] = value
    return headers


def _declared_length(meta: dict) -> int:
    try:
        return max(int(meta.get("CONTENT_LENGTH") or 0), 0)
    except (TypeError, ValueError):
        return 0


def delivery_read(request) -> Delivery:
    """Read a notification request without ever reading more than the limit (+1 byte).

    Raises ``OSError`` (Django's ``UnreadablePostError``) when the sender went away."""
    limit = settings.LINLI_NOTIFY_MAX_BYTES
    keep = settings.LINLI_NOTIFY_REJECTED_KEEP_BYTES
    headers = request_headers(request.META)
    declared = _declared_length(request.META)
    if declared > limit:
        return Delivery(headers, request.read(keep), declared, complete=False)
    body = request.read(limit + 1)  # Django's stream stops at Content-Length
    if len(body) > limit:
        return Delivery(headers, body[:keep], len(body), complete=False)
    return Delivery(headers, body, len(body), complete=True)


def clean_text(data: bytes) -> str:
    """Bytes as storable text: invalid UTF-8 and NUL (PostgreSQL refuses it in text)
    become U+FFFD."""
    return data.decode("utf-8", "replace").replace("\x00", "\ufffd")


def _clean(value) -> str:
    return str(value).replace("\x00", "\ufffd")


def bounded_headers(headers: dict[str, str], *, value_max: int = HEADER_VALUE_MAX,
                    total_max: int = HEADERS_TOTAL_MAX) -> dict[str, str]:
    """At most ``total_max`` characters of headers, each value at most ``value_max``."""
    kept: dict[str, str] = {}
    total = 0
    for name, value in headers.items():
        name, value = _clean(name)[:64], _clean(value)[:value_max]
        total += len(name) + len(value)
        if total > total_max:
            kept["x-linli-headers-cut"] = str(len(headers) - len(kept))
            break
        kept[name] = value
    return kept


def verified_fields(headers: dict[str, str], body: bytes) -> dict:
    """The columns of a verified notification: all of it (bounded headers)."""
    return {"headers": bounded_headers(headers), "body": clean_text(body),
            "body_size": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_truncated": False}


def rejected_store(account: MerchantAccount, delivery: Delivery, *, remote_addr: str | None,
                   reason: str, now: dt.datetime | None = None) -> GatewayNotification | None:
    """Store a rejected delivery, truncated; or, when its sender is over the limit,
    count it and return None."""
    now = now or timezone.now()
    if _sender_over_limit(remote_addr, now):
        _tally(account, remote_addr, now)
        return None
    keep = settings.LINLI_NOTIFY_REJECTED_KEEP_BYTES
    return GatewayNotification.objects.create(
        channel=account.channel, account=account, community_id=account.community_id,
        received_at=now, remote_addr=remote_addr, outcome=REJECTED, error=reason[:255],
        headers=bounded_headers(delivery.headers, value_max=REJECTED_HEADER_VALUE_MAX,
                                total_max=REJECTED_HEADERS_TOTAL_MAX),
        body=clean_text(delivery.body[:keep]), body_size=delivery.size,
        body_sha256=hashlib.sha256(delivery.body).hexdigest() if delivery.complete else "",
        body_truncated=not delivery.complete or len(delivery.body) > keep,
    )


def _sender_over_limit(remote_addr: str | None, now: dt.datetime) -> bool:
    limit = settings.LINLI_NOTIFY_REJECTS_PER_IP
    since = now - dt.timedelta(minutes=settings.LINLI_NOTIFY_REJECT_WINDOW_MINUTES)
    recent = GatewayNotification.objects.filter(outcome=REJECTED, received_at__gt=since)
    recent = (recent.filter(remote_addr=remote_addr) if remote_addr
              else recent.filter(remote_addr__isnull=True))
    return recent.values("pk")[:limit].count() >= limit


def _tally(account: MerchantAccount, remote_addr: str | None, now: dt.datetime) -> None:
    key = {"account": account, "remote_addr": remote_addr or "",
           "hour": now.replace(minute=0, second=0, microsecond=0)}
    rows = NotificationDropTally.objects.filter(**key)
    if rows.update(count=F("count") + 1, last_at=now):
        return
    try:
        with transaction.atomic():
            NotificationDropTally.objects.create(
                **key, community_id=account.community_id, channel=account.channel,
                count=1, last_at=now)
    except IntegrityError:  # another worker counted the first one meanwhile
        rows.update(count=F("count") + 1, last_at=now)
        return
    logger.warning("notifications to %s from %s: over %s rejected in %s minutes; further "
                   "rejected ones this hour are counted, not stored", account,
                   remote_addr or "?", settings.LINLI_NOTIFY_REJECTS_PER_IP,
                   settings.LINLI_NOTIFY_REJECT_WINDOW_MINUTES)


def rejected_prune(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete rejected deliveries (and the counts of unstored ones) older than the
    retention period. Verified notifications are never deleted."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.LINLI_NOTIFY_REJECTED_RETENTION_DAYS)
    old = GatewayNotification.objects.filter(outcome=REJECTED, received_at__lt=cutoff)
    notifications = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        notifications += GatewayNotification.objects.filter(
            pk__in=ids, outcome=REJECTED).delete()[0]
    tallies = NotificationDropTally.objects.filter(hour__lt=cutoff).delete()[0]
    if notifications or tallies:
        logger.info("pruned %d rejected notification(s) and %d count(s) older than %s days",
                    notifications, tallies, settings.LINLI_NOTIFY_REJECTED_RETENTION_DAYS)
    return {"rejected_notifications": notifications, "unstored_counts": tallies}
