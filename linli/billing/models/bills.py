"""Bill runs, bills and their adjustments, and the jobs that run bill runs.

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

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from linli.billing.models.fees import PRICE, QTY, ChargeStandard, FeeItem, StandardRate
from linli.billing.models.meters import MeterReading


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
