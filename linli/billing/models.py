"""Fee items, standards, bindings, meters, bill runs, bills and their adjustments.

Bill state machine (``Bill.status``), changed only by services under a row lock:

    unpaid ──pay part──▶ partially_paid ──pay or waive rest──▶ paid ──refund part──▶ partially_refunded
      │  ╲                                                      │                       │
      │   ╲ waive all                                           └──refund all──▶ refunded ◀┘
      │    ▶ waived
      └──cancel (nothing paid), or its run reversed──▶ cancelled

A bill settled by money and a waiver together is "paid" (some money came in; nothing is
owed); "waived" is a bill forgiven whole. A reversed run's bills are cancelled with
``run_reversed`` set, which frees their period for the run that bills it again.

"Overdue" is not a status: it is derived (unpaid or partially paid, past the due date).
What a bill still owes is derived too: amount − discounts − waivers − paid.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
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


class BillRun(models.Model):
    """A committed run that issued bills for a community and a period (批次)."""

    class Status(models.TextChoices):
        COMMITTED = "committed", _("Committed")
        REVERSED = "reversed", _("Reversed")

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="bill_runs",
    )
    period_key = models.CharField(_("period"), max_length=7, db_index=True)
    fee_items = models.ManyToManyField(FeeItem, verbose_name=_("fee items"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.COMMITTED
    )
    bill_count = models.PositiveIntegerField(_("bills"), default=0)
    total_fen = models.BigIntegerField(_("total (fen)"), default=0)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversed by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )

    class Meta:
        verbose_name = _("bill run")
        verbose_name_plural = _("bill runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.community} {self.period_key} #{self.pk}"


class Bill(models.Model):
    """One charge for one unit (or parking space), fee item and period. Immutable once
    issued except for ``status``, which services move along the documented machine."""

    class Status(models.TextChoices):
        UNPAID = "unpaid", _("Unpaid")
        PARTIALLY_PAID = "partially_paid", _("Partially paid")
        PAID = "paid", _("Paid")
        WAIVED = "waived", _("Waived")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")

    OPEN_STATUSES = (Status.UNPAID, Status.PARTIALLY_PAID)

    # db_index=False on several FKs below: every index slows a bill run's COPY, and these
    # are covered by a composite index or constraint with the same leading column.
    #
    # db_constraint=False on the FKs that record provenance or repeat a fact another column
    # implies (community, fee_item, standard, rate, reading, bill_run, issued_by).
    # PostgreSQL checks a foreign key with one trigger and one index probe per inserted
    # row, at COMMIT (Django makes them DEFERRABLE INITIALLY DEFERRED): 233,000 bills of a
    # 100,000-unit run × 9 FKs was 2.1 million checks and over half the run's time. The
    # FKs to what a bill is charged on — unit and parking space — stay in the database.
    # The others are proven by the invariant ``billing.bill_references`` (`linli check`),
    # which asks more than an FK could: not only that the row exists but that it agrees
    # (the community is the unit's, the fee item is of that community, the standard is of
    # the fee item, the rate is of the standard, the reading is of the unit's meter, the
    # run is of the community). None of them is ever deleted while a bill points at it:
    # ``on_delete=PROTECT`` still refuses it in Django, communities, fee items, standards,
    # runs and readings have no delete path, and a price is deleted only under the
    # bill-run lock and only when no bill used it (``config.standard_rate_delete``).
    # Covered by index bill_comm_status (community, status, period_key).
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="bills", db_index=False, db_constraint=False,
    )
    # Covered by index bill_unit_status (unit, status).
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="bills",
        db_index=False,
    )
    # Covered by the partial unique bill_once_per_space_item_period (parking_space, …)
    # WHERE parking_space IS NOT NULL: any parking_space = / IN lookup implies that.
    parking_space = models.ForeignKey(
        "estate.ParkingSpace", verbose_name=_("parking space"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="bills", db_index=False,
    )
    # fee item, standard and rate share one index, bill_item_standard_rate (fee_item,
    # standard, rate): a standard is of one fee item and a price of one standard, so
    # billing.services.config, which asks "any bill of this standard / at this price?"
    # (used_rate_ids on every standard's admin page, binding_check_deletable, price and
    # method-change checks), names the fee item (and standard) too and reads that index.
    fee_item = models.ForeignKey(
        FeeItem, verbose_name=_("fee item"), on_delete=models.PROTECT, related_name="bills",
        db_index=False, db_constraint=False,
    )
    standard = models.ForeignKey(
        ChargeStandard, verbose_name=_("standard"), on_delete=models.PROTECT, related_name="+",
        db_index=False, db_constraint=False,
    )
    # DO_NOTHING, not PROTECT: Django's PROTECT check would ask for bills by rate alone,
    # which no index leads with. The one delete path, config.standard_rate_delete,
    # refuses a price any bill used (by the index above, under the bill-run lock), and
    # ``billing.bill_references`` proves every bill's price exists.
    rate = models.ForeignKey(
        StandardRate, verbose_name=_("price"), null=True, blank=True,
        on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False,
    )
    # Most bills have no reading: indexed only where there is one (bill_reading).
    reading = models.ForeignKey(
        MeterReading, verbose_name=_("meter reading"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="bills", db_index=False, db_constraint=False,
    )
    bill_run = models.ForeignKey(
        BillRun, verbose_name=_("bill run"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="bills", db_constraint=False,
    )
    period_key = models.CharField(_("period"), max_length=20)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    quantity = models.DecimalField(_("quantity"), **QTY)
    unit_price = models.DecimalField(_("unit price (yuan)"), **PRICE)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    detail = models.JSONField(_("calculation"), default=dict, blank=True)
    # No index of its own: bills are asked for by due date only within a unit or a
    # community (overdue filters), which bill_unit_status and bill_comm_status serve.
    due_date = models.DateField(_("due date"))
    # Late-fee rule as it stood at issue, so a later policy change never rewrites a bill.
    late_fee_daily_rate = models.DecimalField(
        _("late fee per day"), max_digits=8, decimal_places=6, null=True, blank=True
    )
    late_fee_grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    late_fee_cap_fen = models.BigIntegerField(_("late fee cap (fen)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.UNPAID
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    # Set (with status cancelled) when the bill's run is reversed: the bill never stood,
    # so the unit, fee item and period may be billed again — unlike a bill cancelled on
    # its own by an adjustment, which stays the one bill of its period. A database
    # default, so bulk inserts that leave the column out store False.
    run_reversed = models.BooleanField(_("run reversed"), default=False, db_default=False)
    issued_at = models.DateTimeField(_("issued"), auto_now_add=True)
    # No index: bills are never looked up by issuer; only the PROTECT check on deleting a
    # user reads this column, which is rare, so a sequential scan then is acceptable.
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("issued by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False,
    )

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["-period_start", "unit_id", "fee_item_id"]
        constraints = [
            # One bill per (unit or space, fee item, period) that stands: a reversed
            # run's bills step aside for the run that bills the period again.
            models.UniqueConstraint(
                fields=["unit", "fee_item", "period_key"],
                condition=Q(parking_space__isnull=True, run_reversed=False),
                name="bill_once_per_unit_item_period",
            ),
            models.UniqueConstraint(
                fields=["parking_space", "fee_item", "period_key"],
                condition=Q(parking_space__isnull=False, run_reversed=False),
                name="bill_once_per_space_item_period",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="bill_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["community", "status", "period_key"], name="bill_comm_status"),
            models.Index(fields=["unit", "status"], name="bill_unit_status"),
            models.Index(fields=["fee_item", "standard", "rate"], name="bill_item_standard_rate"),
            models.Index(fields=["reading"], condition=Q(reading__isnull=False),
                         name="bill_reading"),
        ]

    def __str__(self) -> str:
        target = self.parking_space or self.unit
        return f"{target} {self.fee_item.name} {self.period_key}"


class BillAdjustment(models.Model):
    """A correction of a bill: a new linked record, never an edit (减免, 折扣, 作废)."""

    class Kind(models.TextChoices):
        WAIVER = "waiver", _("Waiver")
        DISCOUNT = "discount", _("Discount")
        CANCELLATION = "cancellation", _("Cancellation")
        LATE_FEE_WAIVER = "late_fee_waiver", _("Late-fee waiver")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    bill = models.ForeignKey(
        Bill, verbose_name=_("bill"), on_delete=models.PROTECT, related_name="adjustments"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("bill adjustment")
        verbose_name_plural = _("bill adjustments")
        ordering = ["bill_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="adjustment_positive"),
        ]
        permissions = [("approve_billadjustment", _("Can approve bill adjustments"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen} · {self.bill}"


class BillRunJob(models.Model):
    """A console bill run too large for a web request, committed by a background job:
    what the person approved (the preview's figures) and where the job stands.

    States: queued → running → done (``run`` set) or failed (``error`` says why);
    a crashed attempt goes back to queued while retries remain. ``token`` is issued
    with the preview page, so a double click queues one job; a job that is done or
    failed is never run again, and its commit and its "done" are one transaction, so
    a retried job cannot issue bills twice (the bills' unique constraints stand behind
    that).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    token = models.CharField(max_length=36, unique=True, editable=False)
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    period_key = models.CharField(_("period"), max_length=7)
    fee_item_ids = models.JSONField(default=list, blank=True)
    expected_count = models.PositiveIntegerField(_("bills"))
    expected_total_fen = models.BigIntegerField(_("total (fen)"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    run = models.ForeignKey(
        BillRun, verbose_name=_("bill run"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("queued"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("background bill run")
        verbose_name_plural = _("background bill runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.community} {self.period_key} job #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
