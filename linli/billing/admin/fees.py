"""Console pages of billing's configuration: fee items, charge standards (with their
prices and bindings inline, and the one-off charge raised from a standard's page), and the
read-only lists of every price and every binding."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from linli.billing.admin.forms import (
    ServiceSavedAdmin,
    ServiceValidatedForm,
    YuanField,
    _blank_choices,
    _in_scope,
    _values,
    add_service_errors,
    tiers_label,
)
from linli.billing.admin.standard_inlines import BindingInline, RateInline
from linli.billing.models import Binding, ChargeStandard, FeeItem, Meter, StandardRate
from linli.billing.services import config
from linli.console.dialogs import back_to, dialog, dialog_again
from linli.console.scoping import ReadOnlyAdmin, ScopedTabularInline
from linli.estate.models import Unit
from linli.money import format_fen, format_price

ONE_OFF_PERMISSION = "billing.add_bill"  # bills are added only as one-off charges


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


# --- charge standards ----------------------------------------------------------------------


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
            dialog=dialog(_("Raise a one-off charge for chosen units"), OneOffChargeForm,
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
            return dialog_again(request, form, self.charge_one_off)
        messages.success(request, gettext("%(n)s bills were issued.") % {"n": len(bills)})
        url = reverse("admin:billing_bill_changelist") + f"?period={bills[0].period_key}"
        return back_to(request, url)

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
