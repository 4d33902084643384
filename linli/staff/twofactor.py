"""Two-factor sign-in for staff (django-otp): a TOTP authenticator app, and one-time
backup codes for when the phone is lost.

Enrolling is two steps: ``totp_enrol_start`` makes an unconfirmed device (its secret is
shown as a QR code and as text), ``totp_enrol_confirm`` confirms it with a code from the
app and issues ``BACKUP_CODE_COUNT`` backup codes. From then on a password alone opens
nothing: ``two_factor_verify`` must accept a code in the same session (the console's gate,
``linli.console.twofactor``). A company can require it of the roles that move money
(``MONEY_ROLES``, ``SignInPolicy``).

django-otp refuses a TOTP code already used (a device remembers the last time step it
accepted) and a used backup code (it is deleted), and after a wrong code refuses every
code for 1 s, doubling with each further wrong code. Enrolment, removal, every wrong code
and every policy change are written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import django_otp
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.staff.models import Role, SignInPolicy

# Roles whose people take, approve or give back money: counter payments, refunds,
# adjustments, bill runs. Customer service only reads bills.
MONEY_ROLES = frozenset({Role.COMPANY_ADMIN, Role.MANAGER, Role.CASHIER, Role.FINANCE})
BACKUP_CODE_COUNT = 10
TOTP_NAME = "totp"
BACKUP_NAME = "backup"


class TwoFactorError(Exception):
    """A code was refused; the message says why, in words a person can act on."""


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    backup_codes: list[str]


def totp_device(user: Any, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("id").first()


def has_two_factor(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_required(user: Any) -> bool:
    """Whether the user's company requires a second factor of the user's role."""
    staff = getattr(user, "staff", None)
    if staff is None or staff.role not in MONEY_ROLES:
        return False
    return SignInPolicy.objects.filter(company_id=staff.company_id,
                                       require_two_factor=True).exists()


def totp_enrol_start(*, user: Any) -> TOTPDevice:
    """The user's unconfirmed device, made if there is none (a reload keeps the secret
    the person may already have scanned)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def totp_enrol_confirm(*, user: Any, token: str, ip: str | None = None) -> Enrolment:
    """Confirm the device with a code from the app; issue fresh backup codes. A wrong
    code is recorded (and throttled) and changes nothing else."""
    device = totp_device(user, confirmed=False)
    if device is None or has_two_factor(user):
        raise TwoFactorError(_("Two-factor sign-in is already on, or enrolment has not "
                               "started. Reload the page."))
    waiting = _wait_message(device)
    if not device.verify_token(_digits(token)):
        _record_failure(user, ip, _("wrong code while enrolling"))
        raise TwoFactorError(waiting or _wrong_code())
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user)
        audit_record(actor=user, action=AuditEvent.Action.SECURITY, ip=ip,
                     summary=_("Two-factor sign-in turned on: %(user)s")
                     % {"user": user.get_username()},
                     changes={"username": user.get_username(), "event": "enrolled"})
    return Enrolment(device=device, backup_codes=codes)


def backup_codes_renew(*, user: Any, ip: str | None = None) -> list[str]:
    """New backup codes; the old ones stop working."""
    if not has_two_factor(user):
        raise TwoFactorError(_("Turn on two-factor sign-in first."))
    with transaction.atomic():
        codes = _new_backup_codes(user)
        audit_record(actor=user, action=AuditEvent.Action.SECURITY, ip=ip,
                     summary=_("New backup codes issued: %(user)s")
                     % {"user": user.get_username()},
                     changes={"username": user.get_username(), "event": "backup_codes"})
    return codes


def two_factor_disable(*, acting_user: Any, user: Any, ip: str | None = None) -> None:
    """Remove the user's devices. The user themself may, unless their company requires
    a second factor of their role (then they may only replace it: enrol again at once);
    a company admin may for their company's staff (a lost phone and no backup codes)."""
    if acting_user.pk != user.pk and not _may_manage(acting_user, user):
        raise PermissionDenied
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_record(actor=acting_user, action=AuditEvent.Action.SECURITY, ip=ip,
                     summary=_("Two-factor sign-in turned off: %(user)s")
                     % {"user": user.get_username()},
                     changes={"username": user.get_username(), "event": "disabled"})


def two_factor_verify(*, request: Any, token: str, ip: str | None = None) -> None:
    """Accept a code from the app or a backup code for this session, or raise
    ``TwoFactorError`` (a wrong, reused or too-early code)."""
    user = request.user
    token = _digits(token).lower()
    totp = totp_device(user)
    waiting = _wait_message(totp) if totp else None
    device = django_otp.match_token(user, token) if token else None
    if device is None:
        _record_failure(user, ip, _("wrong sign-in code"))
        raise TwoFactorError(waiting or _wrong_code())
    django_otp.login(request, device)
    if isinstance(device, StaticDevice):
        audit_record(actor=user, action=AuditEvent.Action.SECURITY, ip=ip,
                     summary=_("Signed in with a backup code: %(user)s")
                     % {"user": user.get_username()},
                     changes={"username": user.get_username(), "event": "backup_code_used",
                              "left": backup_codes_left(user)})


def policy_set(*, acting_user: Any, company: Any, require_two_factor: bool,
               ip: str | None = None) -> SignInPolicy:
    staff = getattr(acting_user, "staff", None)
    if not acting_user.is_superuser and (
        staff is None or staff.role != Role.COMPANY_ADMIN or staff.company_id != company.pk
    ):
        raise PermissionDenied
    with transaction.atomic():
        policy, _created = SignInPolicy.objects.select_for_update().get_or_create(company=company)
        if policy.require_two_factor != require_two_factor:
            policy.require_two_factor = require_two_factor
            policy.save(update_fields=["require_two_factor", "updated_at"])
            audit_record(actor=acting_user, action=AuditEvent.Action.SECURITY, obj=policy,
                         ip=ip, changes={"require_two_factor": [not require_two_factor,
                                                                require_two_factor]},
                         summary=_("Two-factor sign-in for roles that move money: %(state)s")
                         % {"state": _("required") if require_two_factor else _("optional")})
    return policy


def policy_of(company: Any) -> bool:
    return SignInPolicy.objects.filter(company=company, require_two_factor=True).exists()


def _may_manage(acting_user: Any, user: Any) -> bool:
    if acting_user.is_superuser and acting_user.is_active:
        return True
    staff, target = getattr(acting_user, "staff", None), getattr(user, "staff", None)
    return (staff is not None and target is not None and staff.role == Role.COMPANY_ADMIN
            and staff.company_id == target.company_id)


def _digits(token: str) -> str:
    return "".join(token.split())


def _new_backup_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _i in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _wait_message(device: Any) -> str | None:
    """Why no code can be tried yet (after wrong codes), or None."""
    allowed, data = device.verify_is_allowed()
    if allowed or not data or not data.get("locked_until"):
        return None
    seconds = max(1, int((data["locked_until"] - timezone.now()).total_seconds()) + 1)
    return _("Too many wrong codes. Wait %(seconds)d seconds, then enter the newest "
             "code from your app.") % {"seconds": seconds}


def _wrong_code() -> str:
    return _("The code is wrong or has been used already. Enter the newest code from your "
             "authenticator app.")


def _record_failure(user: Any, ip: str | None, what: str) -> None:
    audit_record(actor=user, action=AuditEvent.Action.SECURITY, ip=ip,
                 summary=_("Two-factor code refused (%(what)s): %(user)s")
                 % {"what": what, "user": user.get_username()},
                 changes={"username": user.get_username(), "event": "code_refused"})
