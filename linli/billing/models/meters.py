"""Meters (水表, 电表, 燃气表) and their readings, which metered standards bill."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from linli.billing.models.fees import QTY


class Meter(models.Model):
    class Kind(models.TextChoices):
        WATER = "water", _("Water")
        ELECTRICITY = "electricity", _("Electricity")
        GAS = "gas", _("Gas")

    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="meters"
    )
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    serial = models.CharField(_("serial number"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        ordering = ["unit_id", "kind"]
        constraints = [models.UniqueConstraint(fields=["unit", "kind"], name="meter_unit_kind")]

    def __str__(self) -> str:
        return f"{self.unit} {self.get_kind_display()}"


class MeterReading(models.Model):
    """A reading at the end of a month. Usage = this value − the previous reading (or −
    ``start_value`` when the meter was replaced this month)."""

    class Status(models.TextChoices):
        OK = "ok", _("OK")
        FLAGGED = "flagged", _("Flagged for review")
        APPROVED = "approved", _("Approved after review")
        REJECTED = "rejected", _("Rejected")

    meter = models.ForeignKey(
        Meter, verbose_name=_("meter"), on_delete=models.PROTECT, related_name="readings"
    )
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    period_key = models.CharField(_("month"), max_length=7)
    value = models.DecimalField(_("reading"), **QTY, validators=[MinValueValidator(Decimal(0))])
    previous_value = models.DecimalField(_("previous reading"), **QTY, null=True, blank=True)
    replaced = models.BooleanField(_("meter replaced"), default=False)
    start_value = models.DecimalField(
        _("new meter's start reading"), **QTY, null=True, blank=True,
        help_text=_("When the meter was replaced: the new meter's first reading."),
    )
    usage = models.DecimalField(_("usage"), **QTY)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OK
    )
    flag_reason = models.CharField(_("why flagged"), max_length=200, blank=True)
    read_on = models.DateField(_("read on"), null=True, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("entered by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    entered_at = models.DateTimeField(_("entered"), auto_now_add=True)

    class Meta:
        verbose_name = _("meter reading")
        verbose_name_plural = _("meter readings")
        ordering = ["meter_id", "period_key"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "period_key"], name="reading_meter_month"),
            models.CheckConstraint(condition=Q(usage__gte=0), name="reading_usage_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.meter} {self.period_key}: {self.value}"

    @property
    def billable(self) -> bool:
        return self.status in (self.Status.OK, self.Status.APPROVED)
