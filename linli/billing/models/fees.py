"""What is billed: fee items (收费项目), charge standards (收费标准) with their dated prices
and bindings (费用绑定), and each community's billing settings."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

PRICE = {"max_digits": 14, "decimal_places": 4}
QTY = {"max_digits": 14, "decimal_places": 4}


class FeeItem(models.Model):
    """A kind of charge in a community (收费项目): 物业服务费, 停车费, 水费 …"""

    class Category(models.TextChoices):
        PROPERTY = "property", _("Property service")
        PARKING = "parking", _("Parking")
        WATER = "water", _("Water")
        ELECTRICITY = "electricity", _("Electricity")
        GAS = "gas", _("Gas")
        SHARED = "shared", _("Shared utilities")
        DEPOSIT = "deposit", _("Deposit")
        OTHER = "other", _("Other")

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="fee_items",
    )
    name = models.CharField(_("name"), max_length=50)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("fee item")
        verbose_name_plural = _("fee items")
        ordering = ["community_id", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="fee_item_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deposit(self) -> bool:
        return self.category == self.Category.DEPOSIT


class ChargeStandard(models.Model):
    """How a fee item is charged (收费标准). Prices live in dated ``StandardRate`` rows so
    that a new price applies from its date and issued bills never change."""

    class Method(models.TextChoices):
        FIXED_UNIT = "fixed_unit", _("Fixed amount per unit")
        FIXED_SPACE = "fixed_space", _("Fixed amount per parking space")
        BUILDING_AREA = "building_area", _("Price × building area")
        USABLE_AREA = "usable_area", _("Price × usable area")
        METERED = "metered", _("Price × metered usage")
        ONE_OFF = "one_off", _("One-off charge")

    class Cycle(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        QUARTERLY = "quarterly", _("Quarterly")
        HALF_YEARLY = "half_yearly", _("Half-yearly")
        YEARLY = "yearly", _("Yearly")
        ONCE = "once", _("Once")

    class Timing(models.TextChoices):
        ADVANCE = "advance", _("In advance (预收)")
        ARREARS = "arrears", _("In arrears")

    class DueRule(models.TextChoices):
        DAYS_AFTER_START = "days_after_start", _("N days after the period starts")
        DAYS_AFTER_END = "days_after_end", _("N days after the period ends")
        DAY_OF_MONTH = "day_of_month", _("A day of the month")

    fee_item = models.ForeignKey(
        FeeItem, verbose_name=_("fee item"), on_delete=models.PROTECT, related_name="standards"
    )
    name = models.CharField(_("name"), max_length=80)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    cycle = models.CharField(_("cycle"), max_length=16, choices=Cycle.choices, default=Cycle.MONTHLY)
    timing = models.CharField(
        _("billed"), max_length=10, choices=Timing.choices, default=Timing.ADVANCE
    )
    meter_kind = models.CharField(_("meter"), max_length=16, blank=True)
    due_rule = models.CharField(
        _("due rule"), max_length=20, choices=DueRule.choices, default=DueRule.DAYS_AFTER_START
    )
    due_days = models.PositiveSmallIntegerField(_("due after (days)"), default=30)
    due_day_of_month = models.PositiveSmallIntegerField(
        _("due day of month"), default=15, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    vacancy_percent = models.DecimalField(
        _("vacant units pay (%)"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Empty = vacant units pay in full."),
    )
    late_fee_enabled = models.BooleanField(_("late fee"), default=False)
    late_fee_daily_rate = models.DecimalField(
        _("late fee per day"), max_digits=8, decimal_places=6, default=Decimal("0.0005"),
        validators=[MinValueValidator(Decimal(0))], help_text=_("0.0005 = 0.05 % a day"),
    )
    late_fee_grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    late_fee_cap_fen = models.BigIntegerField(
        _("late fee cap (fen)"), null=True, blank=True, validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("charge standard")
        verbose_name_plural = _("charge standards")
        ordering = ["fee_item_id", "id"]

    def __str__(self) -> str:
        return f"{self.fee_item.name} · {self.name}"


class StandardRate(models.Model):
    """A price of a standard from a date on. Never edited once a bill used it."""

    standard = models.ForeignKey(
        ChargeStandard, verbose_name=_("standard"), on_delete=models.PROTECT, related_name="rates"
    )
    effective_from = models.DateField(_("effective from"))
    unit_price = models.DecimalField(
        _("unit price (yuan)"), **PRICE, validators=[MinValueValidator(Decimal(0))]
    )
    tiers = models.JSONField(
        _("tiers"), default=list, blank=True,
        help_text=_('Tiered prices: [{"up_to": "10", "price": "3.5"}, {"up_to": null, "price": "4.8"}]'),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["standard_id", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["standard", "effective_from"], name="rate_date_unique"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="rate_price_not_negative"),
        ]

    def __str__(self) -> str:
        return gettext("Price from %(date)s") % {"date": self.effective_from}


class Binding(models.Model):
    """Which units or spaces a standard applies to (费用绑定), over a span of dates."""

    class Scope(models.TextChoices):
        COMMUNITY = "community", _("Whole community")
        BUILDING = "building", _("Building")
        UNIT_KIND = "unit_kind", _("Unit kind")
        UNIT = "unit", _("One unit")
        PARKING = "parking", _("One parking space")
        ALL_PARKING = "all_parking", _("All parking spaces")

    standard = models.ForeignKey(
        ChargeStandard, verbose_name=_("standard"), on_delete=models.PROTECT,
        related_name="bindings",
    )
    scope = models.CharField(_("applies to"), max_length=16, choices=Scope.choices)
    building = models.ForeignKey(
        "estate.Building", verbose_name=_("building"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    unit_kind = models.CharField(_("unit kind"), max_length=16, blank=True)
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    parking_space = models.ForeignKey(
        "estate.ParkingSpace", verbose_name=_("parking space"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("binding")
        verbose_name_plural = _("bindings")
        ordering = ["standard_id", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="binding_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.standard} → {self.get_scope_display()}"


class BillingSettings(models.Model):
    """Per-community billing settings."""

    community = models.OneToOneField(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="billing_settings",
    )
    bill_run_day = models.PositiveSmallIntegerField(
        _("monthly bill run day"), default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("Day of the month the scheduled bill run creates the month's bills."),
    )
    scheduled_runs = models.BooleanField(_("scheduled bill runs"), default=False)
    horizon_months = models.PositiveSmallIntegerField(
        _("bill ahead (months)"), default=12,
        help_text=_("How far into the future a bill run may go."),
    )
    auto_offset_prepaid = models.BooleanField(
        _("pay new bills from prepaid balance"), default=False
    )
    approval_threshold_fen = models.BigIntegerField(
        _("adjustments above this need approval (fen)"), default=10000,
        validators=[MinValueValidator(0)],
    )
    finance_approval_above_fen = models.BigIntegerField(
        _("finance approves adjustments above (fen)"), null=True, blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Waivers, discounts and cancellations of a bill above this amount are "
                    "approved by finance. Empty: any approver."),
    )
    quarter_anchor_month = models.PositiveSmallIntegerField(
        _("first month of the billing year"), default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )

    class Meta:
        verbose_name = _("billing settings")
        verbose_name_plural = _("billing settings")

    def __str__(self) -> str:
        return str(self.community)
