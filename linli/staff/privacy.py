"""Who sees owners' phone numbers whole in lists and exports: staff with the permission
``estate.view_person_mobile`` (the roles that call owners about their fees: customer
service, community managers, company admins; superusers). Everyone else sees them
masked (``138****5678``). Every page or export that shows whole numbers records, in the
audit log, who saw how many and where (PIPL: each full view is accounted for)."""

from __future__ import annotations

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.core.validators import mask_mobile

VIEW_FULL_PHONE_PERMISSION = "estate.view_person_mobile"


def sees_full_phone(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)
                and user.has_perm(VIEW_FULL_PHONE_PERMISSION))


def phone_for(user, mobile: str) -> str:
    """``mobile`` as ``user`` may see it ("" stays "")."""
    if not mobile or sees_full_phone(user):
        return mobile or ""
    return mask_mobile(mobile)


def full_phones_shown(user, count: int | None, where: str, *, ip: str | None = None) -> None:
    """Record that ``user`` was shown ``count`` whole phone numbers (``None``: some, as an
    export streams its rows) on ``where``; nothing when none was whole."""
    if count == 0 or not sees_full_phone(user):
        return
    how_many = "" if count is None else f"{count} "
    audit_record(actor=user, action=AuditEvent.Action.SECURITY,
                 summary=f"Viewed {how_many}full mobile numbers: {where}",
                 changes={"count": count, "where": where}, ip=ip)
