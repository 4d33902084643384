"""Console pages of billing's runs and bills: a community's billing settings, bill runs,
and bills. Bills are read-only: they are issued by runs and one-off charges, never typed
in, and are corrected by adjustments raised from the bill's page."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextareaWidget

from linli.billing.admin.forms import (
    YuanField,
    _in_scope,
    _money,
    add_service_errors,
    daily_rate_text,
)
from linli.billing.models import Bill, BillAdjustment, BillingSettings, BillRun
from linli.billing.selectors import late_fee_due_fen, overdue_q, with_balances
from linli.billing.services import config
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run_reversal import BillRunReversalError, bill_run_reverse
from linli.billing.services.planning import proration_reasons, warning_message
from linli.console.dialogs import back_to, dialog, dialog_again
from linli.console.html import statement_link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin, ScopedAdmin
from linli.estate.models import Unit
from linli.estate.selectors import payers_of
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.money import format_fen, format_price, plain_number
from linli.payments.models import PaymentAllocation
from linli.staff.names import person_name
from linli.staff.privacy import full_phones_shown, phone_for

ADJUST_PERMISSION = "billing.add_billadjustment"
REVERSE_RUN_PERMISSION = "billing.change_billrun"  # as the bill runs page's Reverse link
Kind = BillAdjustment.Kind


# --- settings and runs --------------------------------------------------------------------


class BillingSettingsForm(forms.ModelForm):
    approval_threshold = YuanField(
        label=_("adjustments above this need approval (yuan)"), required=True,
    )
    finance_approval_above = YuanField(
        label=_("finance approves adjustments above (yuan)"), required=False,
        help_text=_("Waivers, discounts and cancellations of a bill above this amount are "
                    "approved by finance. Empty: any approver."),
    )

    class Meta:
        model = BillingSettings
        fields = ["community", "bill_run_day", "scheduled_runs", "horizon_months",
                  "auto_offset_prepaid", "quarter_anchor_month"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("approval_threshold", self.instance.approval_threshold_fen)
        self.initial.setdefault("finance_approval_above",
                                self.instance.finance_approval_above_fen)

    def _post_clean(self):
        if self.cleaned_data.get("approval_threshold") is not None:
            self.instance.approval_threshold_fen = self.cleaned_data["approval_threshold"]
        if "finance_approval_above" in self.cleaned_data:
            self.instance.finance_approval_above_fen = self.cleaned_data["finance_approval_above"]
        super()._post_clean()


@admin.register(BillingSettings)
class BillingSettingsAdmin(ScopedAdmin):
    form = BillingSettingsForm
    list_display = ["community", "bill_run_day", "scheduled_runs", "horizon_months",
                    "auto_offset_prepaid", "threshold"]
    list_filter = ["community"]
    search_fields = ["community__name"]
    list_select_related = ["community"]

    def get_readonly_fields(self, request, obj=None):
        return ["community"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("approval above"), ordering="approval_threshold_fen")
    def threshold(self, obj):
        return format_fen(obj.approval_threshold_fen)

    # What a view-only page (finance) shows for the form's yuan field.
    @admin.display(description=_("adjustments above this need approval (yuan)"))
    def approval_threshold(self, obj):
        return format_fen(obj.approval_threshold_fen)

    @admin.display(description=_("finance approves adjustments above (yuan)"))
    def finance_approval_above(self, obj):
        if obj.finance_approval_above_fen is None:
            return "—"
        return format_fen(obj.finance_approval_above_fen)


class BillRunReverseForm(BaseDialogForm):
    """The reason for reversing a bill run (on the run's page)."""

    reason = forms.CharField(label=pgettext_lazy("bill run", "Reason"), max_length=200,
                             widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
                             help_text=_("Reversing cancels every bill of the run and posts "
                                         "the mirror of its ledger entries; what it paid from "
                                         "prepaid balances goes back to them."))

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.run = _in_scope(request, BillRun, object_id)


@admin.register(BillRun)
class BillRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "community", "period_key", "status", "bill_count", "total",
                    "created_by_name", "created_at", "reversed_at"]
    list_filter = ["community", "status"]
    search_fields = ["period_key"]
    list_select_related = ["community", "created_by__staff"]
    exclude = ["total_fen", "warnings", "created_by", "reversed_by"]
    readonly_fields = ["total", "warnings_shown", "created_by_name", "reversed_by_name"]

    actions_detail = ["reverse_run"]

    # Unfold actions name permissions by method (see BillAdmin).
    def has_reverse_run_permission(self, request, object_id=None):
        if not request.user.has_perm(REVERSE_RUN_PERMISSION):
            return False
        if object_id is None:
            return True
        run = self.scoped_object(request, object_id)  # None for "abc" too
        return run is not None and run.status == BillRun.Status.COMMITTED

    @action(description=_("Reverse the run (撤销)"), url_path="reverse-run", icon="undo",
            permissions=["reverse_run"],
            dialog=dialog(_("Reverse this bill run (撤销)"), BillRunReverseForm,
                          _("Reverse the run")))
    def reverse_run(self, request, form, object_id):
        try:
            run = bill_run_reverse(acting_user=request.user, run=form.run,
                                   reason=form.cleaned_data["reason"])
        except (BillRunReversalError, ValidationError) as exc:
            return dialog_again(request, form, self.reverse_run, refusal=exc)
        messages.success(request, gettext("Bill run #%(id)s was reversed; its bills are "
                                          "cancelled.") % {"id": run.pk})
        return back_to(request, reverse("admin:billing_billrun_change", args=[run.pk]))

    @admin.display(description=_("by"), ordering="created_by__staff__display_name")
    def created_by_name(self, obj):
        return person_name(obj.created_by)

    @admin.display(description=_("reversed by"))
    def reversed_by_name(self, obj):
        return person_name(obj.reversed_by)

    @admin.display(description=_("total"), ordering="total_fen")
    def total(self, obj):
        return format_fen(obj.total_fen)

    @admin.display(description=_("warnings"))
    def warnings_shown(self, obj):
        return _table(
            [gettext("Warning"), gettext("Count"), gettext("For example")],
            [(warning_message(w), w.get("count", ""), "、".join(w.get("examples", [])))
             for w in obj.warnings or []],
        )


# --- bills --------------------------------------------------------------------------------


class OverdueFilter(DropdownFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = overdue_q(timezone.localdate())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class PeriodFilter(DropdownFilter):
    title = _("period")
    parameter_name = "period"

    def lookups(self, request, model_admin):
        keys = (model_admin.scope(Bill.objects.all(), request.user)
                .order_by("-period_key").values_list("period_key", flat=True).distinct())
        return [(key, key) for key in keys[:120]]

    def queryset(self, request, queryset):
        return queryset.filter(period_key=self.value()) if self.value() else queryset


class BillDialogForm(BaseDialogForm):
    """A form on a bill's page."""

    error_field = "reason"  # where a service's refusal is shown (dialogs show field errors)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.bill = _in_scope(request, Bill, object_id)


class ReasonForm(BillDialogForm):
    reason = forms.CharField(label=_("reason"), max_length=200,
                             widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}))


class AmountReasonForm(ReasonForm):
    error_field = "amount"
    amount = YuanField(label=_("amount (yuan)"), required=False,
                       help_text=_("For example 12.30. Empty on a late-fee waiver = all of it."))
    field_order = ["amount", "reason"]


@admin.register(Bill)
class BillAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["id", "target", "community", "fee_item", "period_key", "amount", "owed",
                    "due_date", "late_fee_today", "status"]
    list_filter = ["community", "unit__building", "fee_item", PeriodFilter,
                   ("status", ChoicesDropdownFilter), OverdueFilter]
    search_fields = ["unit__room_no", "unit__entrance", "unit__building__name",
                     "parking_space__code", "fee_item__name", "period_key", "note"]
    list_select_related = ["community", "unit__building", "fee_item", "parking_space"]
    readonly_fields = ["amounts", "calculation", "adjustment_history", "payment_history",
                       "ledger_history", "issued", "unit_statement"]
    fieldsets = [
        (None, {"fields": ["community", "unit", "unit_statement", "parking_space", "fee_item",
                           "standard", "period_key", "period_start", "period_end", "due_date",
                           "status", "note"]}),
        (_("Amounts"), {"fields": ["amounts"]}),
        (_("Calculation"), {"fields": ["calculation"]}),
        (_("History"), {"fields": ["issued", "adjustment_history", "payment_history",
                                   "ledger_history"]}),
    ]
    actions_detail = [{"title": _("Adjust"), "icon": "edit_note",
                       "items": ["waive", "discount", "cancel_bill", "waive_late_fee"]}]

    def get_queryset(self, request):
        return with_balances(super().get_queryset(request))

    # Unfold actions name permissions by method (a dotted name makes its system check
    # query the database, which breaks `migrate` on a fresh one).
    def has_adjust_permission(self, request, obj=None):
        return request.user.has_perm(ADJUST_PERMISSION)

    # --- list columns
    @admin.display(description=_("unit or space"))
    def target(self, obj):
        return obj.parking_space.code if obj.parking_space_id else str(obj.unit)

    # Amounts are numbers in the export (``export_fen``): the overdue list exported is
    # the arrears list the office calls from, with the payer's name and phone.
    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    amount.export_fen = lambda obj: obj.amount_fen

    @admin.display(description=_("owed"), ordering="owed_fen")
    def owed(self, obj):
        return format_fen(obj.owed_fen)

    owed.export_fen = lambda obj: obj.owed_fen

    @admin.display(description=_("late fee as of today"))
    def late_fee_today(self, obj):
        fee_fen = late_fee_due_fen(obj, as_of=timezone.localdate())
        return format_fen(fee_fen) if fee_fen else "—"

    late_fee_today.export_fen = lambda obj: late_fee_due_fen(obj, as_of=timezone.localdate())

    def export_extra_columns(self, request):
        """The payer's name and phone (masked for roles that do not call owners), read
        once per community of the exported bills."""
        today, loaded, payers = timezone.localdate(), set(), {}
        shown = []

        def phone(obj):
            number = phone_for(request.user, payer(obj)[1])
            if number and not shown:
                shown.append(True)
                full_phones_shown(request.user, None, "bill list export")
            return number

        def payer(obj):
            if obj.community_id not in loaded:
                loaded.add(obj.community_id)
                payers.update(payers_of(Unit.objects.filter(community_id=obj.community_id)
                                        .values_list("pk", flat=True), today))
            return payers.get(obj.unit_id, ("", ""))

        return [(gettext("Payer"), lambda obj: payer(obj)[0], "text"),
                (gettext("Phone"), phone, "text")]

    # --- the bill's page
    @admin.display(description=_("balance"))
    def amounts(self, obj):
        rule = "—"
        if obj.late_fee_daily_rate is not None:
            rule = gettext("%(rate)s a day after %(grace)s grace days, capped at %(cap)s") % {
                "rate": daily_rate_text(obj.late_fee_daily_rate), "grace": obj.late_fee_grace_days,
                "cap": _money(obj.late_fee_cap_fen),
            }
        rows = [
            (gettext("Amount"), format_fen(obj.amount_fen)),
            (gettext("Waived, discounted or cancelled"), format_fen(obj.adjusted_fen)),
            (gettext("Paid"), format_fen(obj.paid_fen)),
            (gettext("Still owed"), format_fen(obj.owed_fen)),
            (gettext("Late fee as of %(day)s") % {"day": timezone.localdate()},
             format_fen(late_fee_due_fen(obj, as_of=timezone.localdate()))),
            (gettext("Late fee paid"), format_fen(obj.late_fee_paid_fen)),
            (gettext("Late fee waived"), format_fen(obj.late_fee_waived_fen)),
            (gettext("Late-fee rule"), rule),
        ]
        return _table(["", ""], rows)

    @admin.display(description=_("computed as"))
    def calculation(self, obj):
        detail = obj.detail or {}
        rows = [(gettext("Method"), obj.standard.get_method_display()),
                (gettext("Quantity"), plain_number(obj.quantity)),
                (gettext("Unit price (yuan)"), format_price(obj.unit_price))]
        if "months" in detail:
            rows.append((gettext("Months"), detail["months"]))
        if "area" in detail:
            rows.append((gettext("Area (m²)"), detail["area"]))
        for tier in detail.get("tiers", []):  # usage shown as read: 5, not 5.0000
            rows.append((gettext("Tier from %(start)s") % {"start": plain_number(tier["from"])},
                         f"{plain_number(tier['quantity'])} × {tier['price']}"))
        if "proration" in detail:
            share = detail["proration"]
            if "days" in detail:
                share = gettext("%(share)s (%(days)s days)") % {"share": share, "days": detail["days"]}
            rows.append((gettext("Share of the period billed"), share))
        if detail.get("prorated_by"):
            rows.append((gettext("Prorated by"), proration_reasons(detail["prorated_by"])))
        if "vacancy_percent" in detail:
            rows.append((gettext("Vacant unit pays (%)"), detail["vacancy_percent"]))
        if "vacant_days" in detail:
            rows.append((gettext("Days with no occupancy"), detail["vacant_days"]))
        rows.append((gettext("Amount (rounded once to the fen)"), format_fen(obj.amount_fen)))
        return _table(["", ""], rows)

    @admin.display(description=_("unit's statement"))
    def unit_statement(self, obj):
        return statement_link(obj.unit_id) if obj.unit_id else "—"

    @admin.display(description=_("issued"))
    def issued(self, obj):
        how = (gettext("bill run #%(id)s") % {"id": obj.bill_run_id} if obj.bill_run_id
               else gettext("one-off charge"))
        who = obj.issued_by.get_username() if obj.issued_by_id else "—"
        return f"{_when(obj.issued_at)} · {how} · {who}"

    @admin.display(description=_("adjustments"))
    def adjustment_history(self, obj):
        rows = [
            (_when(a.created_at), a.get_kind_display(), format_fen(a.amount_fen), a.reason,
             a.get_status_display(), a.requested_by.get_username() if a.requested_by else "—",
             a.approved_by.get_username() if a.approved_by else "—", _when(a.decided_at))
            for a in obj.adjustments.select_related("requested_by", "approved_by")
        ]
        return _table([gettext("Requested"), gettext("Kind"), gettext("Amount"), gettext("Reason"), gettext("Status"),
                       gettext("Requested by"), gettext("Decided by"), gettext("Decided")], rows)

    @admin.display(description=_("payments"))
    def payment_history(self, obj):
        allocations = (PaymentAllocation.objects.filter(bill=obj)
                       .select_related("payment__cashier").order_by("payment__received_at"))
        rows = [
            (_when(a.payment.received_at), a.payment.get_channel_display(),
             format_fen(a.principal_fen), format_fen(a.late_fee_fen),
             a.payment.cashier.get_username() if a.payment.cashier else "—",
             a.payment.reference or "—")
            for a in allocations
        ]
        return _table([gettext("Received"), gettext("Channel"), gettext("Principal"), gettext("Late fee"),
                       gettext("Cashier"), gettext("Reference")], rows)

    @admin.display(description=_("ledger entries"))
    def ledger_history(self, obj):
        entries = bill_journal_entries(obj)
        moved = {
            row["entry_id"]: row["debit"] - row["credit"]
            for row in JournalLine.objects.filter(
                entry__in=entries, account=chart.RECEIVABLE, unit_id=obj.unit_id,
                fee_item_ref=obj.fee_item_id,
            ).values("entry_id").annotate(
                debit=Sum("amount_fen", filter=Q(side=JournalLine.DEBIT), default=0),
                credit=Sum("amount_fen", filter=Q(side=JournalLine.CREDIT), default=0),
            )
        }
        rows = []
        for entry in entries:
            link = format_html('<a href="{}">#{}</a>', reverse(
                "admin:ledger_journalentry_change", args=[entry.pk]), entry.pk)
            rows.append((link, entry.effective_on, entry.kind_label, entry.memo or "—",
                         format_fen(moved.get(entry.pk, 0)) if entry.pk in moved else "—"))
        return _table([gettext("Entry"), gettext("Date"), gettext("Kind"), gettext("Memo"),
                       gettext("Receivable lines of this unit and fee item")], rows)

    # --- adjustments from the bill's page (dialogs)
    def _adjust(self, request, form, kind: str, dialog_action):
        try:
            adjustment = bill_adjustment_request(
                acting_user=request.user, bill=form.bill, kind=kind,
                reason=form.cleaned_data["reason"], amount_fen=form.cleaned_data.get("amount"),
            )
        except ValidationError as exc:
            add_service_errors(form, exc, fallback=form.error_field)
            return dialog_again(request, form, dialog_action)
        if adjustment.status == BillAdjustment.Status.PENDING:
            messages.warning(request, gettext(
                "The adjustment is above the community's approval limit and waits for "
                "someone who may approve it."
            ))
        else:
            messages.success(request, gettext("The adjustment has been applied."))
        return back_to(request, reverse("admin:billing_bill_change", args=[form.bill.pk]))

    @action(description=_("Waive"), url_path="waive", permissions=["adjust"],
            dialog=dialog(_("Waive part or all of this bill (减免)"), AmountReasonForm,
                           _("Waive")))
    def waive(self, request, form, object_id):
        return self._adjust(request, form, Kind.WAIVER, self.waive)

    @action(description=_("Discount"), url_path="discount", permissions=["adjust"],
            dialog=dialog(_("Discount this bill"), AmountReasonForm, _("Discount")))
    def discount(self, request, form, object_id):
        return self._adjust(request, form, Kind.DISCOUNT, self.discount)

    @action(description=pgettext_lazy("bill", "Cancel"), url_path="cancel",
            permissions=["adjust"],
            dialog=dialog(_("Cancel this bill (作废)"), ReasonForm, _("Cancel the bill")))
    def cancel_bill(self, request, form, object_id):
        return self._adjust(request, form, Kind.CANCELLATION, self.cancel_bill)

    @action(description=_("Waive late fee"), url_path="waive-late-fee",
            permissions=["adjust"],
            dialog=dialog(_("Waive the late fee"), AmountReasonForm, _("Waive")))
    def waive_late_fee(self, request, form, object_id):
        return self._adjust(request, form, Kind.LATE_FEE_WAIVER, self.waive_late_fee)


def bill_journal_entries(bill: Bill) -> list[JournalEntry]:
    """Entries that moved this bill's receivable: its issue (a run's batch holding its unit
    and fee item, or its one-off charge), its adjustments, its payments, and reversals."""
    keys = [f"adjustment:{pk}" for pk in bill.adjustments.values_list("pk", flat=True)]
    keys += [f"payment:{pk}" for pk in bill.allocations.values_list("payment_id", flat=True)]
    if bill.bill_run_id is None:
        keys.append(config.one_off_business_key(bill.period_key))
    found = set(JournalEntry.objects.filter(business_key__in=keys).values_list("pk", flat=True))
    if bill.bill_run_id:
        found |= set(JournalEntry.objects.filter(
            business_key__startswith=f"billrun:{bill.bill_run_id}:issue:",
            lines__unit_id=bill.unit_id, lines__fee_item_ref=bill.fee_item_id,
        ).values_list("pk", flat=True))
    found |= set(JournalEntry.objects.filter(reverses_id__in=found).values_list("pk", flat=True))
    return list(JournalEntry.objects.filter(pk__in=found).order_by("posted_at", "pk"))
