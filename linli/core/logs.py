"""Server logs an operator can use: every record carries the request id of the request
that wrote it (``RequestIdFilter``), and ``LINLI_LOG_JSON=1`` writes one JSON object a
line (``JsonFormatter``) for log collectors. The id is set by
``linli.core.middleware.RequestIdMiddleware`` and shown on the 500 page."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("linli_request_id", default="-")
# What an incoming X-Request-ID (from a proxy) may look like; anything else is replaced.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")


def new_request_id(incoming: str | None = None) -> str:
    """The proxy's id when it is well formed, else a fresh random one."""
    if incoming and _WELL_FORMED.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request id, message, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", current_request_id()),
            "message": record.getMessage(),
        }
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)



class AxesNoRequestFilter(logging.Filter):
    """django-axes logs an error for every failed sign-in made without a request; those
    are the owners' password sign-ins, which axes does not throttle by design
    (linli/staff/signin.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "without a request" not in message and "a None request" not in message
