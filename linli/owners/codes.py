"""One-time SMS codes: sending within the limits, and checking them.

A code is six digits, valid for five minutes, good for one use, for one phone and one
purpose (and, for a phone change, one account), with at most five tries. Only a keyed
hash is stored. Limits, counted in the database so that they hold across processes and
on SQLite and PostgreSQL alike: one code a minute and ten a day per phone, thirty an
hour per IP address. Only the newest code of a phone and purpose counts: asking again
replaces the previous one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from linli.core.crypto import mobile_index
from linli.core.validators import normalise_mobile, validate_mobile
from linli.owners import sms
from linli.owners.models import Purpose, VerificationCode

CODE_TTL = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
PHONE_INTERVAL = dt.timedelta(minutes=1)
PHONE_PER_DAY = 10
IP_PER_HOUR = 30
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def clean_mobile(value: str) -> str:
    """The normalised mobile number, or a translated error."""
    mobile = normalise_mobile(value)
    if not mobile:
        raise ValidationError(_("Please enter your mobile number."), code="required")
    validate_mobile(mobile)
    return mobile


def code_hash(*, mobile: str, purpose: str, code: str) -> str:
    """Keyed with the site's secret: six digits are too few to survive a plain hash."""
    return salted_hmac("linli.owners.code", f"{mobile}:{purpose}:{code}",
                       algorithm="sha256").hexdigest()


def wait_error(seconds: int) -> ValidationError:
    seconds = max(1, int(seconds))
    return ValidationError(
        ngettext("Please wait %(seconds)d second before asking for another code.",
                 "Please wait %(seconds)d seconds before asking for another code.", seconds)
        % {"seconds": seconds},
        code="wait", params={"seconds": seconds},
    )


def serialize_on(*keys: str) -> None:
    """Hold transaction-scoped locks on ``keys`` so that two processes counting the same
    limit queue up instead of both seeing room for one more. PostgreSQL: advisory locks
    (in sorted order, so never a deadlock). SQLite: nothing to do, its write transactions
    already run one at a time (``transaction_mode`` IMMEDIATE in settings)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            digest = hashlib.sha256(key.encode()).digest()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)",
                           [int.from_bytes(digest[:8], "big", signed=True)])


def _send_wait_s(*, mobile: str, ip: str | None, now: dt.datetime) -> int:
    """Seconds until this phone and IP may be sent another code (0: now)."""
    sent = VerificationCode.objects.filter(mobile_index=mobile_index(mobile),
                                           created_at__gt=now - DAY)
    last = sent.order_by("-created_at").values_list("created_at", flat=True).first()
    waits = [0]
    if last is not None:
        waits.append((last + PHONE_INTERVAL - now).total_seconds())
    if sent.count() >= PHONE_PER_DAY:
        oldest = sent.order_by("-created_at").values_list("created_at", flat=True)[
            PHONE_PER_DAY - 1]
        waits.append((oldest + DAY - now).total_seconds())
    if ip:
        by_ip = VerificationCode.objects.filter(ip=ip, created_at__gt=now - HOUR)
        if by_ip.count() >= IP_PER_HOUR:
            oldest = by_ip.order_by("-created_at").values_list("created_at", flat=True)[
                IP_PER_HOUR - 1]
            waits.append((oldest + HOUR - now).total_seconds())
    return int(max(waits) + 0.999)


def code_send(*, mobile: str, purpose: str, ip: str | None, user=None,
              now: dt.datetime | None = None) -> VerificationCode:
    """Send a new code to ``mobile`` for ``purpose``, or refuse with how long to wait."""
    mobile = clean_mobile(mobile)
    if purpose not in Purpose.values:
        raise ValueError(purpose)
    now = now or timezone.now()
    code = f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic():
        serialize_on(f"sms:mobile:{mobile}", f"sms:ip:{ip}")
        wait_s = _send_wait_s(mobile=mobile, ip=ip, now=now)
        if wait_s > 0:
            raise wait_error(wait_s)
        row = VerificationCode.objects.create(
            mobile_index=mobile_index(mobile), purpose=purpose, user=user, ip=ip, created_at=now,
            expires_at=now + CODE_TTL, code_hash=code_hash(mobile=mobile, purpose=purpose,
                                                           code=code),
        )
    # Sent after the row (and so the limit) is committed, so no lock is held while a
    # provider answers; not with on_commit, which never fires inside a test's transaction.
    sms.send_code(mobile, code, purpose)
    return row


def code_verify(*, mobile: str, purpose: str, code: str, user=None,
                now: dt.datetime | None = None) -> VerificationCode:
    """Use up the newest code of ``mobile`` and ``purpose`` if ``code`` is it.

    Runs in its own transaction, which must commit even when the code is wrong (the try
    counts): call it outside any other transaction.
    """
    mobile = clean_mobile(mobile)
    code = "".join(str(code or "").split())
    if not code:
        raise ValidationError(_("Please enter the code from the SMS."), code="required")
    now = now or timezone.now()
    refusal = None
    with transaction.atomic():
        row = (VerificationCode.objects.select_for_update(no_key=True)
               .filter(mobile_index=mobile_index(mobile), purpose=purpose)
               .order_by("-created_at", "-id").first())
        if (row is None or row.used_at is not None or row.expires_at <= now
                or (row.user_id is not None and row.user_id != getattr(user, "pk", None))):
            refusal = ValidationError(
                _("This code has expired or has been used. Please ask for a new code."),
                code="expired")
        elif row.attempts >= MAX_ATTEMPTS:
            refusal = ValidationError(
                _("Too many wrong tries. Please ask for a new code."), code="attempts")
        else:
            row.attempts += 1
            good = constant_time_compare(
                row.code_hash, code_hash(mobile=mobile, purpose=purpose, code=code))
            if good:
                row.used_at = now
            else:
                left = MAX_ATTEMPTS - row.attempts
                refusal = ValidationError(
                    ngettext("The code is wrong. %(left)d try left.",
                             "The code is wrong. %(left)d tries left.", left) % {"left": left}
                    if left else _("The code is wrong. Please ask for a new code."),
                    code="wrong")
            row.save(update_fields=["attempts", "used_at"])
    if refusal is not None:
        raise refusal
    return row
