"""The reports' filters: community, building, fee item (each only among the staff
member's communities), period (a month, or the last of a run of months) and as-of date.
Anything else is refused with a translated message; nothing is computed from it."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from linli.billing.models import FeeItem
from linli.estate.models import Building, Community, Unit
from linli.reports.scope import Scope, Window, add_months
from linli.staff.scope import communities_for

BY = [("company", _("Company")), ("community", _("Community")), ("building", _("Building")),
      ("fee_item", _("Fee item")), ("month", _("Month by month (12 months)"))]


class DateInput(UnfoldAdminTextInputWidget):
    input_type = "date"

    def format_value(self, value):
        return value.isoformat() if hasattr(value, "isoformat") else value


class MonthInput(UnfoldAdminTextInputWidget):
    input_type = "month"


class ReportFilters(forms.Form):
    community = forms.ModelChoiceField(
        label=_("Community"), queryset=Community.objects.none(), required=False,
        empty_label=_("All my communities"), widget=UnfoldAdminSelectWidget)
    building = forms.ModelChoiceField(
        label=_("Building"), queryset=Building.objects.none(), required=False,
        empty_label=_("All buildings"), widget=UnfoldAdminSelectWidget)
    fee_item = forms.ModelChoiceField(
        label=_("Fee item"), queryset=FeeItem.objects.none(), required=False,
        empty_label=_("All fee items"), widget=UnfoldAdminSelectWidget)
    period = forms.RegexField(
        label=_("Billing period (month)"), regex=r"^\d{4}-(0[1-9]|1[0-2])$", required=False,
        error_messages={"invalid": _("Enter a month as YYYY-MM, for example 2026-03.")},
        widget=MonthInput)
    as_of = forms.DateField(label=_("As of"), required=False, input_formats=["%Y-%m-%d"],
                            widget=DateInput)
    by = forms.ChoiceField(label=_("Rows"), choices=BY, required=False,
                           widget=UnfoldAdminSelectWidget)
    bucket = forms.IntegerField(required=False, min_value=0, max_value=6,
                                widget=forms.HiddenInput)
    unit = forms.ModelChoiceField(queryset=Unit.objects.none(), required=False,
                                  widget=forms.HiddenInput)

    def __init__(self, data, *, user, **kwargs) -> None:
        super().__init__(data, **kwargs)
        communities = communities_for(user)
        self.user = user
        self.fields["community"].queryset = communities
        self.fields["unit"].queryset = Unit.objects.filter(community__in=communities)
        self.fields["building"].queryset = Building.objects.filter(
            community__in=communities).select_related("community").order_by(
            "community_id", "sort_order", "name")
        self.fields["fee_item"].queryset = FeeItem.objects.filter(
            community__in=communities).select_related("community")
        self.fields["building"].label_from_instance = lambda b: f"{b.community.name} {b.name}"
        self.fields["fee_item"].label_from_instance = lambda i: f"{i.community.name} {i.name}"

    def clean(self):
        data = super().clean()
        building, fee_item, community = (data.get("building"), data.get("fee_item"),
                                         data.get("community"))
        for chosen, field in ((building, "building"), (fee_item, "fee_item")):
            if chosen and community and chosen.community_id != community.pk:
                self.add_error(field, _("This is not in the chosen community."))
        return data

    # --- what the filters mean (after is_valid())
    @property
    def as_of_day(self) -> dt.date:
        return self.cleaned_data.get("as_of") or timezone.localdate()

    @property
    def period_key(self) -> str:
        return self.cleaned_data.get("period") or f"{self.as_of_day:%Y-%m}"

    @property
    def window(self) -> Window:
        return Window.month(self.period_key)

    @property
    def year(self) -> Window:
        """The twelve months ending with the period."""
        last = Window.month(self.period_key).start
        return Window(add_months(last, -11), Window.month(self.period_key).end)

    @property
    def rows_by(self) -> str:
        return self.cleaned_data.get("by") or "community"

    def scope(self) -> Scope:
        data = self.cleaned_data
        return Scope.for_user(
            self.user, community_id=data["community"].pk if data.get("community") else None,
            building_id=data["building"].pk if data.get("building") else None,
            fee_item_id=data["fee_item"].pk if data.get("fee_item") else None,
            unit_id=data["unit"].pk if data.get("unit") else None)

    def used(self) -> list[tuple[str, str]]:
        """The filters as (label, value) for a page header and an export."""
        data = self.cleaned_data
        return [
            (str(_("Community")), str(data["community"].name) if data.get("community")
             else str(_("All my communities"))),
            (str(_("Building")), str(data["building"].name) if data.get("building")
             else str(_("All buildings"))),
            (str(_("Fee item")), str(data["fee_item"].name) if data.get("fee_item")
             else str(_("All fee items"))),
            (str(_("Billing period (month)")), self.period_key),
            (str(_("As of")), self.as_of_day.isoformat()),
        ]
