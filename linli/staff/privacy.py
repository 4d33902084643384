"""Who sees owners' phone numbers whole: the roles that call owners about their fees
(customer service, community managers, company admins, and the platform's superusers).
Everyone else sees them masked (``138****5678``), on pages and in exports."""

from __future__ import annotations

from linli.core.validators import mask_mobile
from linli.staff.models import Role

FULL_PHONE_ROLES = frozenset({Role.SERVICE, Role.MANAGER, Role.COMPANY_ADMIN})


def sees_full_phone(user) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    staff = getattr(user, "staff", None)
    return bool(staff and staff.role in FULL_PHONE_ROLES)


def phone_for(user, mobile: str) -> str:
    """``mobile`` as ``user`` may see it ("" stays "")."""
    if not mobile or sees_full_phone(user):
        return mobile or ""
    return mask_mobile(mobile)
