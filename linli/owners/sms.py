"""Sending SMS codes through a provider interface (DESIGN §8).

``send_code`` hands the message to the backend named by ``settings.LINLI_SMS_BACKEND``
(a dotted path to a class with ``send(message)``). Two backends ship:

- ``LogBackend`` (the default until a real provider is configured): writes the code to
  the server log (the number masked) and, when ``settings.LINLI_DEMO`` is on, keeps the
  latest codes in a small file in the data folder for the demo's help page. A file, not
  memory, because the demo's web server runs several worker processes. Anyone reading
  the log could sign in as any owner, so it runs only with DEBUG, in the demo, or when
  chosen explicitly (``LINLI_SMS_BACKEND=log``): otherwise ``linli serve`` refuses to
  start (``check_configuration``) and no code is sent.
- ``MemoryBackend`` for tests: appends to the module-level ``outbox`` list, like
  Django's ``mail.outbox``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from linli.core.validators import mask_mobile

logger = logging.getLogger("linli.owners.sms")

DEFAULT_BACKEND = "linli.owners.sms.LogBackend"
DEMO_LOG_NAME = "demo-sms-codes.jsonl"
DEMO_LOG_KEEP = 20


@dataclass(frozen=True)
class SmsMessage:
    mobile: str
    code: str
    purpose: str
    text: str


outbox: list[SmsMessage] = []


def backend_path() -> str:
    return getattr(settings, "LINLI_SMS_BACKEND", "") or DEFAULT_BACKEND


def check_configuration() -> None:
    """Refuse the log backend outside development and the demo unless it was chosen
    explicitly (``LINLI_SMS_BACKEND=log``): it writes every sign-in code to the log."""
    allowed = (settings.DEBUG or getattr(settings, "LINLI_DEMO", False)
               or getattr(settings, "LINLI_SMS_LOG_CHOSEN", False))
    if _backend(backend_path()) is LogBackend and not allowed:
        raise ImproperlyConfigured(
            "The log SMS backend writes owners' sign-in codes to the server log; it runs only "
            "with LINLI_DEBUG=1, in the demo, or with LINLI_SMS_BACKEND=log set explicitly. "
            "Configure a real SMS provider in LINLI_SMS_BACKEND.")


def send_code(mobile: str, code: str, purpose: str) -> SmsMessage:
    """Send ``code`` to ``mobile`` for ``purpose`` (a ``Purpose`` value). A backend that
    may not run here is a refusal the owner reads (and an error in the log), not a 500."""
    message = SmsMessage(mobile=mobile, code=code, purpose=purpose, text=_code_text(code))
    try:
        check_configuration()
    except ImproperlyConfigured:
        logger.exception("SMS code not sent")
        raise ValidationError(_("Text messages cannot be sent at the moment. Please try again "
                                "later or contact your property office."),
                              code="sms_unavailable") from None
    _backend(backend_path())().send(message)
    return message


def _code_text(code: str) -> str:
    return _("[Linli] Your verification code is %(code)s. It is valid for 5 minutes; "
             "do not tell it to anyone.") % {"code": code}


@cache
def _backend(path: str):
    return import_string(path)


class MemoryBackend:
    def send(self, message: SmsMessage) -> None:
        outbox.append(message)


class LogBackend:
    def send(self, message: SmsMessage) -> None:
        logger.info("SMS to %s (%s): code %s", mask_mobile(message.mobile), message.purpose,
                    message.code)
        if getattr(settings, "LINLI_DEMO", False):
            _demo_log_append(message)


# --- the demo's latest codes -------------------------------------------------------------


def _demo_log_path() -> Path:
    return Path(settings.LINLI_HOME) / DEMO_LOG_NAME


def _demo_log_append(message: SmsMessage) -> None:
    """One JSON line per code. A single small ``O_APPEND`` write is atomic between the
    web workers; the file is cut back to its tail now and then."""
    path = _demo_log_path()
    entry = {**asdict(message), "at": timezone.now().isoformat()}
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    if path.stat().st_size > 64 * 1024:
        tail = path.read_text(encoding="utf-8").splitlines()[-DEMO_LOG_KEEP:]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(tail) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def demo_latest_codes(limit: int = DEMO_LOG_KEEP) -> list[dict]:
    """The latest codes the log backend sent (newest first), for the demo help page."""
    path = _demo_log_path()
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        entry["mobile_masked"] = mask_mobile(entry.get("mobile", ""))
        try:
            entry["at"] = dt.datetime.fromisoformat(entry.get("at", ""))
        except (TypeError, ValueError):
            entry["at"] = None
        entries.append(entry)
    return entries[::-1]
