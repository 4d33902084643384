"""Console pages of billing: fee items, standards with their prices and bindings, billing
settings, bill runs, bills and their adjustments.

Configuration pages save through ``linli.billing.services.config`` (whose validators their
forms also call in ``clean()``), so the console applies exactly the rules the code does;
those services write the audit rows, so ScopedAdmin's own form auditing is bypassed here.
Bills are read-only: they are issued by runs and one-off charges, never typed in, and are
corrected by adjustments raised from the bill's page.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import OuterRef, Q, Subquery, Sum
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm, PaginationInlineFormSet
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from linli.billing.calculators.tiers import TierTextError, tiers_from_text, tiers_to_text
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    BillRun,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    StandardRate,
)
from linli.billing.selectors import late_fee_due_fen, overdue_q, with_balances
from linli.billing.services import config
from linli.billing.services.adjustments import (
    APPROVE_PERMISSION,
    bill_adjustment_decide,
    bill_adjustment_request,
)
from linli.billing.services.planning import proration_reasons, warning_message
from linli.console.html import statement_link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin, ScopedAdmin, ScopedTabularInline
from linli.estate.models import Unit
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.money import MoneyError, format_fen, format_price, parse_yuan, plain_number
from linli.payments.models import PaymentAllocation

ADJUST_PERMISSION = "billing.add_billadjustment"
ONE_OFF_PERMISSION = "billing.add_bill"  # bills are added only as one-off charges
Kind = BillAdjustment.Kind


# --- shared pieces ------------------------------------------------------------------------


def add_service_errors(form: forms.BaseForm, exc: ValidationError, fallback=None) -> None:
    """Put a service's errors on the form: on their field when the form shows it, else on
    ``fallback`` (None = the whole form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else fallback, errors)
    else:
        form.add_error(fallback, exc)


class ServiceValidatedForm(forms.ModelForm):
    """Runs the service's validator once the fields themselves are valid."""

    service_validate = None  # a config.*_validate function

    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            try:
                type(self).service_validate(self.instance)
            except ValidationError as exc:
                add_service_errors(self, exc)


class YuanField(forms.CharField):
    """Money typed by staff: a yuan string, parsed exactly into fen (never a float)."""

    widget = UnfoldAdminTextInputWidget

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            amount_fen = parse_yuan(value)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        if amount_fen < 0:
            raise ValidationError(gettext("The amount must not be negative."))
        return amount_fen

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return format_fen(value, symbol=False, grouping=False)
        return value


class TiersField(forms.CharField):
    """Tiered prices typed as text, one tier per line (see tiers_from_text)."""

    widget = UnfoldAdminTextareaWidget(attrs={"rows": 3, "placeholder": "10 3.50\n20 4.20\n5.60"})

    def to_python(self, value):
        if isinstance(value, list):
            return value  # a disabled (used) price's stored tiers
        value = super().to_python(value)
        try:
            return tiers_from_text(value)
        except TierTextError as exc:
            raise ValidationError(gettext(
                "Line %(number)s “%(line)s”: write an upper bound and a price, or on the last "
                "line the price alone."
            ) % {"number": exc.line_no, "line": exc.line}) from None

    def prepare_value(self, value):
        return tiers_to_text(value)


def tiers_label(tiers) -> str:
    """Tiers in words for lists and pages: 0–10：¥3.50；10–20：¥4.20；20 以上：¥5.60."""
    parts, low = [], "0"
    for t in tiers or []:
        if t.get("up_to") is None:
            parts.append(gettext("above %(low)s: ¥%(price)s") % {"low": low, "price": t["price"]})
        else:
            parts.append(f"{low}–{t['up_to']}: ¥{t['price']}")
            low = t["up_to"]
    return gettext("; ").join(parts) or "—"


def daily_rate_text(rate) -> str:
    """A late fee's daily rate as a percentage: 0.000500 → 0.05%."""
    return f"{plain_number(Decimal(str(rate)) * 100)}%"


def _values(obj, names) -> dict:
    return {name: getattr(obj, name) for name in names}


def _money(amount_fen: int | None) -> str:
    return "—" if amount_fen is None else format_fen(amount_fen)




def _dialog(title, form_class, submit):
    return {"title": title, "description": "", "form_class": form_class,
            "form_submit_text": submit}


def _dialog_again(request, form, dialog_action) -> HttpResponse:
    """Show a dialog again with the errors a service refused its input with."""
    return render(request, "unfold/helpers/dialog.html", {
        "dialog": dialog_action.dialog, "form": form,
        "form_submit_text": dialog_action.dialog["form_submit_text"],
    })


def _in_scope(request, model, object_id):
    """The object a dialog is about, if the user may see it on its page; else 404 (before
    the form is even shown)."""
    try:
        return admin.site._registry[model].get_queryset(request).get(pk=object_id)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404("not found") from None


def _back_to(request, url: str) -> HttpResponse:
    """After a dialog: reload the page (htmx follows HX-Redirect; a plain post, 302)."""
    if request.headers.get("HX-Request"):
        response = HttpResponse()
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)




class ServiceSavedAdmin(ScopedAdmin):
    """Saves through ``service_save`` (and inline formsets through their own
    ``service_save``); the services validate again under lock and write the audit rows."""

    def service_save(self, user, obj, form, change):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        saved = self.service_save(request.user, obj, form, change)
        obj.pk, obj._state.adding = saved.pk, False

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request, form, formset, change):
        # Read by Django's change message, which ScopedAdmin does not keep anyway.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if hasattr(formset, "service_save"):
            formset.service_save(request.user)


# --- fee items ----------------------------------------------------------------------------


class FeeItemForm(ServiceValidatedForm):
    service_validate = staticmethod(config.fee_item_validate)

    class Meta:
        model = FeeItem
        fields = ["community", "name", "category", "active", "sort_order"]


class StandardSummaryInline(ScopedTabularInline):
    """The fee item's standards; each is edited on its own page."""

    model = ChargeStandard
    fields = ["name", "method", "cycle", "timing", "active"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FeeItem)
class FeeItemAdmin(ServiceSavedAdmin):
    form = FeeItemForm
    list_display = ["name", "community", "category", "active", "sort_order"]
    list_filter = ["community", "category", "active"]
    search_fields = ["name"]
    list_select_related = ["community"]
    inlines = [StandardSummaryInline]

    def get_readonly_fields(self, request, obj=None):
        return ["community"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # fee items are deactivated, never deleted: bills point at them

    def service_save(self, user, obj, form, change):
        if change:
            return config.fee_item_update(acting_user=user, fee_item=obj,
                                          **_values(obj, config.FEE_ITEM_FIELDS))
        return config.fee_item_create(acting_user=user, community=obj.community,
                                      **_values(obj, config.FEE_ITEM_FIELDS))


# --- charge standards, their prices and bindings --------------------------------------------


def _blank_choices(choices):
    return [("", "---------"), *choices]


class ChargeStandardForm(ServiceValidatedForm):
    service_validate = staticmethod(config.standard_validate)
    meter_kind = forms.ChoiceField(label=_("meter"), required=False,
                                   choices=_blank_choices(Meter.Kind.choices),
                                   widget=UnfoldAdminSelectWidget)
    late_fee_cap = YuanField(label=_("late fee cap (yuan)"), required=False,
                             help_text=_("Empty = capped only by the bill's amount."))

    class Meta:
        model = ChargeStandard
        fields = [
            "fee_item", "name", "method", "cycle", "timing", "meter_kind", "due_rule",
            "due_days", "due_day_of_month", "vacancy_percent", "late_fee_enabled",
            "late_fee_daily_rate", "late_fee_grace_days", "active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("late_fee_cap", self.instance.late_fee_cap_fen)

    def _post_clean(self):
        if "late_fee_cap" in self.cleaned_data:
            self.instance.late_fee_cap_fen = self.cleaned_data["late_fee_cap"]
        super()._post_clean()


class ServiceFormSet(PaginationInlineFormSet):
    """An inline whose rows are checked by a service validator and saved by services.
    Existing rows may be read-only (``frozen``) or only partly editable (``editable``)."""

    editable: tuple[str, ...] | None = None  # fields existing rows may change; None = all

    def frozen(self, instance) -> bool:
        return False

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if form.instance.pk is not None:
            for name, field in form.fields.items():
                if name in ("id", self.fk.name):
                    continue
                if self.frozen(form.instance) or (self.editable is not None
                                                  and name not in (*self.editable, "DELETE")):
                    field.disabled = True
        return form

    @staticmethod
    def changed(form) -> bool:
        # Disabled fields never change (Django's JSONField says otherwise when disabled).
        return any(not form.fields[name].disabled for name in form.changed_data)

    def clean(self):
        super().clean()
        if getattr(self.instance, "fee_item_id", None) is None:
            return  # the standard's own form is invalid and says why
        for form in self.forms:
            if not self.changed(form) or form.errors:
                continue
            try:
                if self._should_delete_form(form):
                    if form.instance.pk is not None:
                        self.check_delete(form.instance)
                else:
                    self.check(form)
            except ValidationError as exc:
                add_service_errors(form, exc)

    def service_save(self, user) -> None:
        for form in self.initial_forms:
            if self._should_delete_form(form):
                self.delete(user, form.instance)
            elif self.changed(form):
                self.change(user, form)
        for form in self.extra_forms:
            if self.changed(form) and not self._should_delete_form(form):
                self.add(user, form)


RATE_FIELDS = ("effective_from", "unit_price", "tiers")


class RateFormSet(ServiceFormSet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.used = config.used_rate_ids(self.instance.pk) if self.instance.pk else set()

    def frozen(self, instance) -> bool:
        return instance.pk in self.used

    def check(self, form):
        config.standard_rate_validate(
            standard=self.instance, rate=form.instance if form.instance.pk else None,
            **{k: form.cleaned_data.get(k) for k in RATE_FIELDS},
        )

    def check_delete(self, rate):
        config.standard_rate_check_deletable(rate)

    def add(self, user, form):
        config.standard_rate_add(acting_user=user, standard=self.instance,
                                 **{k: form.cleaned_data.get(k) for k in RATE_FIELDS})

    def change(self, user, form):
        config.standard_rate_change(acting_user=user, rate=form.instance,
                                    **{k: form.cleaned_data.get(k) for k in RATE_FIELDS})

    def delete(self, user, rate):
        config.standard_rate_delete(acting_user=user, rate=rate)


class RateForm(forms.ModelForm):
    tiers = TiersField(
        label=_("tiers"), required=False,
        help_text=_("Metered charges only: one tier per line, the upper bound of its usage and "
                    "its price; the last line the price alone. \"10 3.50\", \"20 4.20\", "
                    "\"5.60\" bills 0–10 at 3.50, 10–20 at 4.20 and above 20 at 5.60."),
    )

    class Meta:
        model = StandardRate
        fields = list(RATE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # With tiers the price may stay empty (the first tier's price is shown on bills);
        # without them the service asks for it.
        self.fields["unit_price"].required = False


class RateInline(ScopedTabularInline):
    model = StandardRate
    form = RateForm
    formset = RateFormSet
    fields = list(RATE_FIELDS)
    extra = 0
    verbose_name_plural = _("prices (a price bills have used can no longer change)")


BINDING_FIELDS = ("scope", "building", "unit_kind", "unit", "parking_space", "start_date",
                  "end_date")


# A tabular inline squeezes its selects to their narrowest: wide enough to read the choice.
_READABLE_SELECT = {"style": "min-width: 9rem"}


class BindingForm(forms.ModelForm):
    unit_kind = forms.ChoiceField(label=_("unit kind"), required=False,
                                  choices=_blank_choices(Unit.Kind.choices),
                                  widget=UnfoldAdminSelectWidget(attrs=_READABLE_SELECT))

    class Meta:
        model = Binding
        fields = list(BINDING_FIELDS)
        widgets = {"scope": UnfoldAdminSelectWidget(attrs=_READABLE_SELECT)}


class BindingFormSet(ServiceFormSet):
    editable = ("end_date",)  # a binding is ended, never re-pointed

    def check(self, form):
        form.instance.standard = self.instance  # unsaved on the standard's add page
        config.binding_validate(form.instance)

    def check_delete(self, binding):
        config.binding_check_deletable(binding)

    def add(self, user, form):
        values = {k: form.cleaned_data.get(k) for k in BINDING_FIELDS}
        config.binding_create(acting_user=user, standard=self.instance, **values)

    def change(self, user, form):
        config.binding_end(acting_user=user, binding=form.instance,
                           end_date=form.cleaned_data.get("end_date"))

    def delete(self, user, binding):
        config.binding_delete(acting_user=user, binding=binding)


class BindingInline(ScopedTabularInline):
    model = Binding
    form = BindingForm
    formset = BindingFormSet
    fields = list(BINDING_FIELDS)
    autocomplete_fields = ["building", "unit", "parking_space"]
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(
            "building__community", "unit__building", "parking_space"
        )


class OneOffChargeForm(BaseDialogForm):
    """Raise a one-off charge of a one-off standard for units typed as they are shown
    (楼栋 + 单元 + 房号, e.g. 1栋1单元101), one per line or separated by commas."""

    units = forms.CharField(label=_("units"), widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
                            help_text=_("For example 1栋1单元101, 1栋1单元102"))
    amount = YuanField(label=_("amount (yuan)"), required=False,
                       help_text=_("Empty = the standard's price today."))
    due_date = forms.DateField(label=_("due date"), widget=UnfoldAdminSingleDateWidget)
    reason = forms.CharField(label=_("reason"), max_length=200,
                             widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.standard = _in_scope(request, ChargeStandard, object_id)

    def clean_units(self):
        labels = [x for x in re.split(r"[\s,，、;；]+", self.cleaned_data["units"]) if x]
        rows = Unit.objects.filter(community_id=self.standard.fee_item.community_id).values_list(
            "pk", "building__name", "entrance", "room_no")
        by_label = {f"{building}{entrance}{room}": pk for pk, building, entrance, room in rows}
        unknown = [label for label in labels if label not in by_label]
        if unknown:
            raise ValidationError(gettext("No such unit in this community: %(units)s") % {
                "units": "、".join(unknown)})
        return [by_label[label] for label in labels]


def current_rate_subquery(field: str, output_field=None):
    """One field of each standard's price in force today (for list columns)."""
    today = timezone.localdate()
    return Subquery(
        StandardRate.objects.filter(standard_id=OuterRef("pk"), effective_from__lte=today)
        .order_by("-effective_from").values(field)[:1], output_field=output_field,
    )


def _shown_when(field: str, test: str) -> str:
    """An Alpine expression for unfold's ``conditional_fields``: ``test`` once ``field``
    is on the form; always shown where it is not (a view-only page has no inputs, and
    an undefined name would otherwise hide the row)."""
    return f"typeof {field} === 'undefined' || {test}"


@admin.register(ChargeStandard)
class ChargeStandardAdmin(ServiceSavedAdmin):
    community_path = "fee_item__community"
    form = ChargeStandardForm
    list_display = ["name", "fee_item", "community", "method", "cycle", "timing", "price_now",
                    "late_fee_enabled", "active"]
    list_filter = ["fee_item__community", "fee_item", "method", "cycle", "active"]
    search_fields = ["name", "fee_item__name"]
    list_select_related = ["fee_item__community"]
    inlines = [RateInline, BindingInline]
    fieldsets = [
        (None, {"fields": ["fee_item", "name", "method", "cycle", "timing", "meter_kind",
                           "active"]}),
        (_("Due date"), {"fields": ["due_rule", "due_days", "due_day_of_month"]}),
        (_("Vacant units"), {"fields": ["vacancy_percent"]}),
        (_("Late fee"), {"fields": ["late_fee_enabled", "late_fee_daily_rate",
                                    "late_fee_grace_days", "late_fee_cap"]}),
    ]
    actions_detail = ["charge_one_off"]
    # Only the fields that apply to what is chosen above them (the values of hidden ones
    # are kept and checked as before).
    conditional_fields = {
        "meter_kind": _shown_when("method", "method === 'metered'"),
        "due_days": _shown_when("due_rule", "due_rule !== 'day_of_month'"),
        "due_day_of_month": _shown_when("due_rule", "due_rule === 'day_of_month'"),
        "late_fee_daily_rate": _shown_when("late_fee_enabled", "late_fee_enabled"),
        "late_fee_grace_days": _shown_when("late_fee_enabled", "late_fee_enabled"),
        "late_fee_cap": _shown_when("late_fee_enabled", "late_fee_enabled"),
    }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            price_now_yuan=current_rate_subquery("unit_price"),
            price_now_tiers=current_rate_subquery("tiers", models.JSONField()),
        )

    def get_readonly_fields(self, request, obj=None):
        return ["fee_item"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: bills point at their standard

    @admin.display(description=_("community"), ordering="fee_item__community")
    def community(self, obj):
        return obj.fee_item.community

    # What a view-only page (cashier, finance) shows for the form's yuan field.
    @admin.display(description=_("late fee cap (yuan)"))
    def late_fee_cap(self, obj):
        return format_fen(obj.late_fee_cap_fen) if obj.late_fee_cap_fen is not None else "—"

    @admin.display(description=_("price now (yuan)"))
    def price_now(self, obj):
        if obj.price_now_tiers:
            return tiers_label(obj.price_now_tiers)
        return "—" if obj.price_now_yuan is None else format_price(obj.price_now_yuan)

    def has_charge_permission(self, request, obj=None):
        return request.user.has_perm(ONE_OFF_PERMISSION)

    @action(description=_("Raise a one-off charge"), url_path="charge",
            permissions=["charge"], icon="add_card",
            dialog=_dialog(_("Raise a one-off charge for chosen units"), OneOffChargeForm,
                           _("Raise the charge")))
    def charge_one_off(self, request, form, object_id):
        data = form.cleaned_data
        try:
            bills = config.bill_issue_one_off(
                acting_user=request.user, standard=form.standard, unit_ids=data["units"],
                reason=data["reason"], due_date=data["due_date"], amount_fen=data["amount"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc, fallback="reason")
            return _dialog_again(request, form, self.charge_one_off)
        messages.success(request, gettext("%(n)s bills were issued.") % {"n": len(bills)})
        url = reverse("admin:billing_bill_changelist") + f"?period={bills[0].period_key}"
        return _back_to(request, url)

    def service_save(self, user, obj, form, change):
        if change:
            return config.standard_update(acting_user=user, standard=obj,
                                          **_values(obj, config.STANDARD_FIELDS))
        terms = _values(obj, config.STANDARD_FIELDS)
        name, method = terms.pop("name"), terms.pop("method")
        return config.standard_create(acting_user=user, fee_item=obj.fee_item, name=name,
                                      method=method, **terms)


@admin.register(StandardRate)
class StandardRateAdmin(ReadOnlyAdmin):
    """Every price in one list; prices are edited on their standard's page."""

    community_path = "standard__fee_item__community"
    list_display = ["standard", "effective_from", "unit_price", "tiers_shown", "created_at"]
    fields = ["standard", "effective_from", "unit_price", "tiers_shown", "created_at"]
    list_filter = ["standard__fee_item__community", "standard__fee_item"]
    search_fields = ["standard__name", "standard__fee_item__name"]
    list_select_related = ["standard__fee_item"]

    @admin.display(description=_("tiers"))
    def tiers_shown(self, obj):
        return tiers_label(obj.tiers) if obj.tiers else "—"


@admin.register(Binding)
class BindingAdmin(ReadOnlyAdmin):
    """Every binding in one list; bindings are edited on their standard's page."""

    unit_path = "unit"
    community_path = "standard__fee_item__community"
    list_display = ["standard", "scope", "target", "start_date", "end_date"]
    list_filter = ["standard__fee_item__community", "standard__fee_item", "scope", "building"]
    search_fields = ["standard__name", "standard__fee_item__name", "unit__room_no",
                     "building__name", "parking_space__code"]
    list_select_related = ["standard__fee_item", "building__community", "unit__building",
                           "parking_space"]

    @admin.display(description=_("applies to"))
    def target(self, obj):
        target = obj.building or obj.unit or obj.parking_space
        if target is not None:
            return target
        return Unit.Kind(obj.unit_kind).label if obj.unit_kind else obj.get_scope_display()


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


@admin.register(BillRun)
class BillRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "community", "period_key", "status", "bill_count", "total",
                    "created_by", "created_at", "reversed_at"]
    list_filter = ["community", "status"]
    search_fields = ["period_key"]
    list_select_related = ["community", "created_by"]
    exclude = ["total_fen", "warnings"]
    readonly_fields = ["total", "warnings_shown"]

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

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("owed"), ordering="owed_fen")
    def owed(self, obj):
        return format_fen(obj.owed_fen)

    @admin.display(description=_("late fee as of today"))
    def late_fee_today(self, obj):
        fee_fen = late_fee_due_fen(obj, as_of=timezone.localdate())
        return format_fen(fee_fen) if fee_fen else "—"

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
            return _dialog_again(request, form, dialog_action)
        if adjustment.status == BillAdjustment.Status.PENDING:
            messages.warning(request, gettext(
                "The adjustment is above the community's approval limit and waits for "
                "someone who may approve it."
            ))
        else:
            messages.success(request, gettext("The adjustment has been applied."))
        return _back_to(request, reverse("admin:billing_bill_change", args=[form.bill.pk]))

    @action(description=_("Waive"), url_path="waive", permissions=["adjust"],
            dialog=_dialog(_("Waive part or all of this bill (减免)"), AmountReasonForm,
                           _("Waive")))
    def waive(self, request, form, object_id):
        return self._adjust(request, form, Kind.WAIVER, self.waive)

    @action(description=_("Discount"), url_path="discount", permissions=["adjust"],
            dialog=_dialog(_("Discount this bill"), AmountReasonForm, _("Discount")))
    def discount(self, request, form, object_id):
        return self._adjust(request, form, Kind.DISCOUNT, self.discount)

    @action(description=pgettext_lazy("bill", "Cancel"), url_path="cancel",
            permissions=["adjust"],
            dialog=_dialog(_("Cancel this bill (作废)"), ReasonForm, _("Cancel the bill")))
    def cancel_bill(self, request, form, object_id):
        return self._adjust(request, form, Kind.CANCELLATION, self.cancel_bill)

    @action(description=_("Waive late fee"), url_path="waive-late-fee",
            permissions=["adjust"],
            dialog=_dialog(_("Waive the late fee"), AmountReasonForm, _("Waive")))
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


# --- adjustments awaiting approval ----------------------------------------------------------


class DecisionForm(BaseDialogForm):
    note = forms.CharField(label=_("note"), required=False, max_length=200,
                           widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.adjustment = _in_scope(request, BillAdjustment, object_id)


@admin.register(BillAdjustment)
class BillAdjustmentAdmin(ReadOnlyAdmin):
    unit_path = "bill__unit"
    community_path = "bill__community"
    list_display = ["id", "bill", "kind", "amount", "reason", "status", "requested_by",
                    "approved_by", "created_at", "decided_at"]
    list_filter = [("status", ChoicesDropdownFilter), ("kind", ChoicesDropdownFilter),
                   "bill__community"]
    search_fields = ["reason", "bill__unit__room_no", "bill__unit__building__name"]
    list_select_related = ["bill__unit__building", "bill__fee_item", "bill__parking_space",
                           "requested_by", "approved_by"]
    actions = ["export_xlsx", "approve_selected", "reject_selected"]
    actions_detail = ["approve", "reject"]
    exclude = ["amount_fen"]
    readonly_fields = ["amount"]

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm(APPROVE_PERMISSION)

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    def _decide(self, request, adjustment, approve: bool, note: str = "") -> str | None:
        """Decide one adjustment; the refusal message, if refused."""
        try:
            bill_adjustment_decide(acting_user=request.user, adjustment=adjustment,
                                   approve=approve, note=note)
        except (PermissionDenied, ValidationError) as exc:
            return "; ".join(getattr(exc, "messages", None) or [str(exc)])
        return None

    def _decide_dialog(self, request, form, approve: bool, dialog_action):
        refused = self._decide(request, form.adjustment, approve, form.cleaned_data["note"])
        if refused:
            form.add_error("note", refused)
            return _dialog_again(request, form, dialog_action)
        messages.success(request, gettext("Approved.") if approve else gettext("Rejected."))
        return _back_to(request, reverse("admin:billing_billadjustment_change",
                                         args=[form.adjustment.pk]))

    @action(description=_("Approve"), url_path="approve", permissions=["approve"],
            dialog=_dialog(_("Approve this adjustment"), DecisionForm, _("Approve")))
    def approve(self, request, form, object_id):
        return self._decide_dialog(request, form, True, self.approve)

    @action(description=_("Reject"), url_path="reject", permissions=["approve"],
            dialog=_dialog(_("Reject this adjustment"), DecisionForm, _("Reject")))
    def reject(self, request, form, object_id):
        return self._decide_dialog(request, form, False, self.reject)

    def _decide_many(self, request, queryset, approve: bool):
        done = 0
        for adjustment in queryset.filter(status=BillAdjustment.Status.PENDING):
            refused = self._decide(request, adjustment, approve)
            if refused:
                messages.error(request, f"#{adjustment.pk}: {refused}")
            else:
                done += 1
        messages.info(request, gettext("%(n)s adjustments decided.") % {"n": done})

    @admin.action(description=_("Approve selected adjustments"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._decide_many(request, queryset, True)

    @admin.action(description=_("Reject selected adjustments"), permissions=["approve"])
    def reject_selected(self, request, queryset):
        self._decide_many(request, queryset, False)


# The meter pages live in their own module; importing it here registers them.
from linli.billing import admin_meters  # noqa: E402,F401
