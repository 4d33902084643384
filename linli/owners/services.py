"""Owner accounts: signing in, sessions, phone, password and notification preferences.

An owner's account is created on their first sign-in by SMS code: a user with a random
username and an ``OwnerAccount`` holding the number (encrypted, found by its blind
index), no usable password until they set one. Staff accounts never sign in here.

Wrong passwords are slowed down per (phone, IP) with growing delays and per IP overall,
never per phone alone: an attacker elsewhere cannot lock the real owner out, and
signing in by SMS code is never held back by wrong passwords.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from linli.core.audit import audit_record
from linli.core.crypto import mobile_index
from linli.core.models import AuditEvent
from linli.core.validators import mask_mobile
from linli.owners.codes import HOUR, clean_mobile, code_send, code_verify, serialize_on
from linli.owners.models import (
    NotificationPreference,
    OwnerAccount,
    OwnerSession,
    PasswordFailure,
    Purpose,
    VerificationCode,
)
from linli.owners.selectors import is_owner

# Wrong passwords: free tries per (phone, IP), then a delay doubling from the first value
# up to the cap; at most IP_FAILURES_PER_HOUR from one IP over all phones.
PAIR_FREE_FAILURES = 3
PAIR_FIRST_DELAY_S = 5
PAIR_MAX_DELAY_S = 15 * 60
PAIR_WINDOW = dt.timedelta(days=1)
IP_FAILURES_PER_HOUR = 30


def _is_staff_account(user: User) -> bool:
    return user.is_staff or user.is_superuser or getattr(user, "staff", None) is not None


def _staff_refusal() -> ValidationError:
    return ValidationError(
        _("This number belongs to a staff account. Staff sign in at the console."),
        code="staff")


def owner_username() -> str:
    """A new owner's username: a random id, never the phone number."""
    return f"owner-{secrets.token_hex(8)}"


def owner_account_create(*, mobile: str, password: str | None = None) -> User:
    """A new owner account for ``mobile`` (IntegrityError if the number has one)."""
    mobile = clean_mobile(mobile)
    with transaction.atomic():
        user = User(username=owner_username())
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        OwnerAccount.objects.create(user=user, mobile=mobile, mobile_index=mobile_index(mobile))
    return user


def _owner_of(mobile: str) -> User | None:
    account = (OwnerAccount.objects.filter(mobile_index=mobile_index(mobile))
               .select_related("user__staff").first())
    return account.user if account is not None else None


def _account_for(mobile: str) -> User | None:
    """The owner account of ``mobile``; refuses staff (also a staff login named by the
    number) and disabled accounts."""
    named = User.objects.filter(username=mobile).select_related("staff").first()
    if named is not None and _is_staff_account(named):
        raise _staff_refusal()
    user = _owner_of(mobile)
    if user is None:
        return None
    if _is_staff_account(user):
        raise _staff_refusal()
    if not user.is_active:
        raise ValidationError(
            _("This account has been disabled. Please contact your property office."),
            code="inactive")
    return user


# --- signing in ------------------------------------------------------------------------


def signin_code_send(*, mobile: str, ip: str | None, now: dt.datetime | None = None):
    """Send a sign-in code (refused for staff numbers before anything is sent)."""
    mobile = clean_mobile(mobile)
    _account_for(mobile)
    return code_send(mobile=mobile, purpose=Purpose.SIGNIN, ip=ip, now=now)


def owner_signin_by_code(*, mobile: str, code: str, now: dt.datetime | None = None) -> User:
    """The owner account of ``mobile`` if ``code`` is its valid sign-in code; creates the
    account on first sign-in."""
    mobile = clean_mobile(mobile)
    user = _account_for(mobile)
    code_verify(mobile=mobile, purpose=Purpose.SIGNIN, code=code, now=now)
    if user is not None:
        return user
    try:
        return owner_account_create(mobile=mobile)
    except IntegrityError:  # the same owner signing in twice at once
        return _owner_of(mobile)


def _password_wait_s(*, mobile: str, ip: str | None, now: dt.datetime) -> int:
    waits = [0.0]
    pair = PasswordFailure.objects.filter(mobile_index=mobile_index(mobile), ip=ip,
                                          at__gt=now - PAIR_WINDOW)
    failures = pair.count()
    if failures >= PAIR_FREE_FAILURES:
        delay_s = min(PAIR_FIRST_DELAY_S * 2 ** (failures - PAIR_FREE_FAILURES),
                      PAIR_MAX_DELAY_S)
        last = pair.order_by("-at").values_list("at", flat=True).first()
        waits.append((last - now).total_seconds() + delay_s)
    if ip:
        by_ip = PasswordFailure.objects.filter(ip=ip, at__gt=now - HOUR)
        if by_ip.count() >= IP_FAILURES_PER_HOUR:
            oldest = by_ip.order_by("-at").values_list("at", flat=True)[IP_FAILURES_PER_HOUR - 1]
            waits.append((oldest + HOUR - now).total_seconds())
    return int(max(waits) + 0.999)


def owner_signin_by_password(*, mobile: str, password: str, ip: str | None,
                             now: dt.datetime | None = None) -> User:
    """The owner account if ``password`` is right; wrong guesses are slowed down."""
    mobile = clean_mobile(mobile)
    now = now or timezone.now()
    wait_s = _password_wait_s(mobile=mobile, ip=ip, now=now)
    if wait_s > 0:
        raise ValidationError(
            ngettext(
                "Too many wrong passwords. Please wait %(seconds)d second, or sign in with "
                "an SMS code.",
                "Too many wrong passwords. Please wait %(seconds)d seconds, or sign in with "
                "an SMS code.", wait_s) % {"seconds": wait_s},
            code="throttled", params={"seconds": wait_s})
    named = User.objects.filter(username=mobile).first()
    if named is not None and _is_staff_account(named):
        raise _staff_refusal()
    owner = _owner_of(mobile)
    user = (authenticate(None, username=owner.get_username(), password=password or "")
            if owner is not None else None)
    if user is not None and _is_staff_account(user):
        raise _staff_refusal()
    if user is None or not is_owner(user):
        with transaction.atomic():
            serialize_on(f"pw:{ip}")
            PasswordFailure.objects.create(mobile_index=mobile_index(mobile), ip=ip, at=now)
        raise ValidationError(
            _("Wrong mobile number or password. No password yet? Sign in with an SMS code "
              "and set one on your profile page."), code="wrong")
    PasswordFailure.objects.filter(mobile_index=mobile_index(mobile), ip=ip).delete()
    return user


# --- sessions ----------------------------------------------------------------------------


def owner_session_record(*, user: User, session_key: str, method: str, user_agent: str,
                         ip: str | None, now: dt.datetime | None = None) -> OwnerSession:
    now = now or timezone.now()
    session, _created = OwnerSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "method": method, "created_at": now, "last_seen_at": now,
                  "user_agent": (user_agent or "")[:300], "ip": ip, "ended_at": None},
    )
    return session


def owner_session_touch(*, session_key: str, now: dt.datetime | None = None) -> None:
    OwnerSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
        last_seen_at=now or timezone.now())


def owner_session_rekey(*, old_key: str, new_key: str) -> None:
    """The session got a new key (Django cycles it when the password changes)."""
    if old_key and new_key and old_key != new_key:
        OwnerSession.objects.filter(session_key=old_key).update(session_key=new_key)


def owner_session_ended(*, session_key: str) -> None:
    """The owner signed out of this session themselves."""
    OwnerSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
        ended_at=timezone.now())


def owner_sessions_end(*, user: User, session_id: int | None = None,
                       keep_session_key: str | None = None, ip: str | None = None) -> int:
    """End one of ``user``'s sessions (``session_id``) or all of them (but
    ``keep_session_key``): their Django sessions are deleted, so those browsers are
    signed out at their next request."""
    with transaction.atomic():
        sessions = OwnerSession.objects.select_for_update(no_key=True).filter(user=user,
                                                                   ended_at__isnull=True)
        if session_id is not None:
            sessions = sessions.filter(pk=session_id)
        if keep_session_key:
            sessions = sessions.exclude(session_key=keep_session_key)
        keys = list(sessions.values_list("session_key", flat=True))
        Session.objects.filter(session_key__in=keys).delete()
        ended = sessions.update(ended_at=timezone.now())
        summary = ("Ended a session" if session_id is not None
                   else "Signed out other devices" if keep_session_key
                   else "Signed out everywhere")
        audit_record(actor=user, action=AuditEvent.Action.SECURITY, obj=user,
                     summary=summary, changes={"sessions": ended}, ip=ip)
    return ended


# --- profile ------------------------------------------------------------------------------


def _require_owner(user) -> None:
    if not is_owner(user):
        raise ValidationError(_("Only owners can do this."), code="not_owner")


def _check_new_mobile(user: User, value: str) -> str:
    mobile = clean_mobile(value)
    accounts = OwnerAccount.objects.filter(mobile_index=mobile_index(mobile))
    if accounts.filter(user=user).exists():
        raise ValidationError(_("This is already your number."), code="same")
    if (accounts.exclude(user=user).exists()
            or User.objects.filter(username=mobile).exclude(pk=user.pk).exists()):
        raise ValidationError(
            _("This number already has an account. Sign in with it instead."), code="taken")
    return mobile


def phone_change_code_send(*, user: User, new_mobile: str, ip: str | None,
                           now: dt.datetime | None = None):
    """Send a code to the new number; only this account can use it."""
    _require_owner(user)
    mobile = _check_new_mobile(user, new_mobile)
    return code_send(mobile=mobile, purpose=Purpose.CHANGE_PHONE, ip=ip, user=user, now=now)


def owner_phone_change(*, user: User, new_mobile: str, code: str, ip: str | None = None,
                       now: dt.datetime | None = None) -> User:
    """Move the account to ``new_mobile`` once the code sent there is confirmed.

    Only the account's number changes. Which units the account sees then follows the
    occupancies recorded for the new number (staff keep those)."""
    _require_owner(user)
    mobile = _check_new_mobile(user, new_mobile)
    code_verify(mobile=mobile, purpose=Purpose.CHANGE_PHONE, code=code, user=user, now=now)
    try:
        with transaction.atomic():
            locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
            account = OwnerAccount.objects.filter(user=locked).first()
            old = account.mobile if account is not None else ""
            account = account or OwnerAccount(user=locked)
            account.mobile, account.mobile_index = mobile, mobile_index(mobile)
            account.save()
            audit_record(actor=locked, action=AuditEvent.Action.SECURITY, obj=locked,
                         summary="Changed phone number",
                         changes={"mobile": [mask_mobile(old), mask_mobile(mobile)]}, ip=ip)
    except IntegrityError:
        raise ValidationError(
            _("This number already has an account. Sign in with it instead."),
            code="taken") from None
    user._state.fields_cache.pop("owner_account", None)  # the number just changed
    return user


def owner_password_set(*, user: User, new_password: str, current_password: str = "",
                       current_required: bool = True, ip: str | None = None) -> None:
    """Set or change the password. Changing one needs the current password, unless the
    owner has just proved their phone with an SMS code (``current_required`` False)."""
    _require_owner(user)
    if current_required and user.has_usable_password() and not user.check_password(
            current_password or ""):
        raise ValidationError({"current_password": _("The current password is wrong.")})
    if not new_password:
        raise ValidationError({"new_password": _("Please enter a new password.")})
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    had_password = user.has_usable_password()
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action=AuditEvent.Action.SECURITY, obj=user,
                     summary="Changed password" if had_password else "Set a password", ip=ip)


def owner_notifications_set(*, user: User, before_due: bool, after_due: bool,
                            payment_results: bool) -> NotificationPreference:
    _require_owner(user)
    prefs, _created = NotificationPreference.objects.update_or_create(
        user=user, defaults={"before_due": bool(before_due), "after_due": bool(after_due),
                             "payment_results": bool(payment_results)})
    return prefs


# --- housekeeping -------------------------------------------------------------------------


def owners_housekeeping(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Forget what no limit or page needs any more: codes and wrong passwords older than
    two days (the longest window is one day), and sessions that ended or expired a month
    ago."""

    now = now or timezone.now()
    old = now - dt.timedelta(days=2)
    month_ago = now - dt.timedelta(days=30)
    alive = Session.objects.filter(expire_date__gt=now).values("session_key")
    sessions = OwnerSession.objects.filter(last_seen_at__lt=month_ago).exclude(
        session_key__in=alive)
    return {
        "codes": VerificationCode.objects.filter(created_at__lt=old).delete()[0],
        "password_failures": PasswordFailure.objects.filter(at__lt=old).delete()[0],
        "sessions": sessions.delete()[0],
    }
