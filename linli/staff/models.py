from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from linli.core.fields import EncryptedMobileField


class Role(models.TextChoices):
    COMPANY_ADMIN = "company_admin", _("Company admin")
    MANAGER = "manager", _("Community manager")
    CASHIER = "cashier", _("Cashier")
    FINANCE = "finance", _("Finance")
    SERVICE = "service", _("Customer service")


class StaffMember(models.Model):
    """A member of a property company's staff, with one role and the communities they
    work in. A company admin works in every community of the company."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.PROTECT,
        related_name="staff",
    )
    company = models.ForeignKey(
        "estate.Company", verbose_name=_("company"), on_delete=models.PROTECT, related_name="staff"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    communities = models.ManyToManyField(
        "estate.Community", verbose_name=_("communities"), blank=True, related_name="staff"
    )
    display_name = models.CharField(_("name"), max_length=50)
    mobile = EncryptedMobileField(_("mobile"), blank=True)  # encrypted at rest (PIPL)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["company_id", "id"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()})"


class SignInPolicy(models.Model):
    """How a company's staff sign in. With ``require_two_factor``, staff whose role
    moves money (``linli.staff.twofactor.MONEY_ROLES``) must enrol a second factor
    before the console opens for them; everyone else may enrol by choice."""

    company = models.OneToOneField(
        "estate.Company", verbose_name=_("company"), on_delete=models.PROTECT,
        related_name="signin_policy",
    )
    require_two_factor = models.BooleanField(
        _("require two-factor sign-in for roles that move money"), default=False,
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("sign-in policy")
        verbose_name_plural = _("sign-in policies")

    def __str__(self) -> str:
        return str(self.company)
