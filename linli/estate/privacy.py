"""Personal data in the console (PIPL): a person's mobile number is shown masked
(138****5678) everywhere; staff whose role calls owners (``estate.view_person_mobile``)
may open the full number of a person in their communities, and each time they do, the
audit log records who saw whose number."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.estate.access import community_ids_for
from linli.estate.models import Person

VIEW_MOBILE_PERMISSION = "estate.view_person_mobile"


def may_view_full_mobile(user, person: Person | None = None) -> bool:
    if not (getattr(user, "is_authenticated", False) and user.has_perm(VIEW_MOBILE_PERMISSION)):
        return False
    return (person is None or user.is_superuser
            or person.community_id in community_ids_for(user))


def person_mobile_reveal(*, acting_user, person: Person, ip: str | None = None) -> str:
    """The person's full mobile number, recorded in the audit log; refused without the
    permission or outside the staff member's communities."""
    if not may_view_full_mobile(acting_user, person):
        raise PermissionDenied
    audit_record(actor=acting_user, action=AuditEvent.Action.SECURITY, obj=person,
                 summary="Viewed full mobile number",
                 changes={"mobile": person.mobile_masked}, ip=ip)
    return person.mobile
