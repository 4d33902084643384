"""Who may resolve money exceptions of payments (anomalies, channel refunds that need
staff): someone with ``payments.change_paymentanomaly`` (finance, company admins) in the
community concerned."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from linli.staff.scope import community_ids_for

RESOLVE_PERMISSION = "payments.change_paymentanomaly"


class ResolutionError(ValidationError):
    pass


def require_resolver(user, community_id: int) -> None:
    """Refuse unless ``user`` may resolve money exceptions of the community."""
    if (user is None or not getattr(user, "is_authenticated", False) or not user.is_active
            or community_id not in community_ids_for(user)
            or not user.has_perm(RESOLVE_PERMISSION)):
        raise ResolutionError(_("You may not resolve payment exceptions of this community."))


def require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ResolutionError(_("Say why (a reason is required)."))
    return reason[:255]
