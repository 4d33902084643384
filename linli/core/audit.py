"""Writing the audit log. Every write a person makes goes through ``audit_record``."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from linli.core.crypto import blind_index
from linli.core.models import AuditEvent

# The estate's community model, by label: core sits below every domain app and imports
# none of them (the layers contract in pyproject.toml).
COMMUNITY_MODEL = "estate.Community"


def community_id_of(obj: Any) -> int | None:
    """The community an object belongs to, if it has one (directly or via a path)."""
    if obj is None:
        return None
    if obj._meta.label == COMMUNITY_MODEL:
        return obj.pk
    for attr in ("community_id", "unit__community_id"):
        value = getattr(obj, attr, None)
        if value:
            return value
    unit = getattr(obj, "unit", None)
    return getattr(unit, "community_id", None)


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if hasattr(value, "all") and callable(value.all):  # many-to-many querysets
        return [str(v) for v in value.all()]
    return value


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """Field values of ``obj`` for an audit diff. Secret fields are recorded as changed,
    never with their value."""
    result: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        mask = getattr(field, "audit_mask", None)
        if mask is not None:
            result[field.name] = mask(getattr(obj, field.name))
            continue
        if getattr(field, "audit_secret", False) or field.name in {"password"}:
            # A keyed digest shows that a secret changed without revealing it.
            raw = getattr(obj, field.name)
            result[field.name] = "••••" + blind_index(str(raw), purpose="audit")[:6] if raw else ""
            continue
        result[field.name] = _plain(getattr(obj, field.name))
    return result


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def person_or_none(user):
    """The acting user if it is a real, saved user (not None, not AnonymousUser, not a
    system job) — what foreign keys such as ``created_by`` may hold."""
    return user if getattr(user, "pk", None) else None


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    changes: dict | None = None,
    summary: str = "",
    community_id: int | None = None,
    ip: str | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=person_or_none(actor),
        action=action,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:255] if obj is not None else "",
        community_id=community_id or community_id_of(obj),
        summary=summary[:255],
        changes=changes or {},
        ip=ip,
    )
