"""Owner accounts (DESIGN §1 owner portal): sign-in codes, password throttling, sessions,
notification preferences and requests to be bound to a home.

An owner is a Django ``User`` with an ``OwnerAccount``: their mobile number, encrypted at
rest and found by its keyed blind index. The username is a random id, never the number
(PIPL: no phone number in plain text in the database). Which units an owner sees follows ``estate.Occupancy``
(``linli.owners.selectors``), never a copy stored on the account.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.core.fields import EncryptedMobileField
from linli.core.validators import mask_mobile
from linli.estate.models import Occupancy


class OwnerAccount(models.Model):
    """An owner's sign-in number. ``mobile_index`` (the keyed blind index) is what
    sign-in, the units an owner sees and phone changes look up."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("owner account"), on_delete=models.CASCADE,
        related_name="owner_account",
    )
    mobile = EncryptedMobileField(_("mobile"))
    mobile_index = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("owner account")
        verbose_name_plural = _("owner accounts")

    def __str__(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def mobile_masked(self) -> str:
        return mask_mobile(self.mobile)


class Purpose(models.TextChoices):
    """What a one-time code may be used for: a code for one purpose never works for
    another."""

    SIGNIN = "signin", _("Sign in")
    CHANGE_PHONE = "change_phone", _("Change phone number")


class VerificationCode(models.Model):
    """A one-time SMS code. Only a keyed hash of the code is stored.

    Each row is also one sent message: the per-phone and per-IP send limits count
    these rows, so the limits hold across processes and on every database.
    """

    # The blind index of the number (``linli.core.crypto.mobile_index``): the number
    # itself is only in the message sent.
    mobile_index = models.CharField(max_length=64)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    # For a phone change: the account that asked; the code works for that account only.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner account"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="+",
    )
    code_hash = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("sent"))
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("tries"), default=0)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("verification code")
        verbose_name_plural = _("verification codes")
        indexes = [
            models.Index(fields=["mobile_index", "created_at"], name="owners_code_index_idx"),
            models.Index(fields=["ip", "created_at"], name="owners_code_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} · {self.created_at:%Y-%m-%d %H:%M}"


class PasswordFailure(models.Model):
    """One wrong password. Counted per (phone, IP) and per IP to slow guessing down
    without locking the real owner out (SMS sign-in is never throttled by these)."""

    mobile_index = models.CharField(max_length=64)  # the number's blind index
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["mobile_index", "ip", "at"], name="owners_pwfail_idx_idx"),
            models.Index(fields=["ip", "at"], name="owners_pwfail_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ip} · {self.at:%Y-%m-%d %H:%M}"


class OwnerSession(models.Model):
    """A signed-in owner's session, so the profile can list and end them.

    ``session_key`` is Django's session key; the session itself lives in
    ``django_session`` and ending it means deleting that row.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owner_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    method = models.CharField(max_length=10)  # "sms" or "password"
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "ended_at"], name="owners_session_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.method} · {self.created_at:%Y-%m-%d %H:%M}"


class NotificationPreference(models.Model):
    """Which reminders an owner wants (read by the reminders work later). No row means
    the defaults: everything on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owner_notifications"
    )
    before_due = models.BooleanField(_("reminders before the due date"), default=True)
    after_due = models.BooleanField(_("reminders after the due date"), default=True)
    payment_results = models.BooleanField(_("payment results"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification preferences")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user_id)


class BindingRequest(models.Model):
    """An owner asking to be linked to a home (绑定房屋). Staff approve it, which creates
    the ``Occupancy``; until then the owner sees nothing of the unit."""

    class Role(models.TextChoices):
        OWNER = Occupancy.Role.OWNER.value, Occupancy.Role.OWNER.label
        TENANT = Occupancy.Role.TENANT.value, Occupancy.Role.TENANT.label
        FAMILY = Occupancy.Role.FAMILY.value, Occupancy.Role.FAMILY.label

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner account"), on_delete=models.PROTECT,
        related_name="binding_requests",
    )
    mobile = EncryptedMobileField(_("mobile"))
    mobile_index = models.CharField(max_length=64, editable=False, db_index=True)
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="binding_requests",
    )
    building = models.CharField(_("building"), max_length=30)
    room = models.CharField(_("room"), max_length=30)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=50)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # The unit the address matches (filled when exactly one does), or the one staff chose.
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    occupancy = models.ForeignKey(
        "estate.Occupancy", verbose_name=_("occupancy"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("asked"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    reject_reason = models.CharField(_("reason for rejecting"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("home binding request")
        verbose_name_plural = _("home binding requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_reason=""),
                name="binding_reject_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community.name} {self.building}{self.room} · {self.name}"

    @property
    def mobile_masked(self) -> str:
        return mask_mobile(self.mobile)
