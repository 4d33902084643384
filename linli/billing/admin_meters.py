"""Console pages of meters and meter readings (抄表).

Readings are written only through ``linli.billing.services.meters``: the add and change
forms validate with the same rules and save with ``reading_record``; review goes through
``reading_review``. A reading used by a bill is read-only, and no reading is ever deleted.
Flagged readings sort first and stand out, so the review queue is the top of the list.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter
from unfold.decorators import action, display

from linli.billing.models import Meter, MeterReading
from linli.billing.services.meters import (
    ReadingEntry,
    reading_is_billed,
    reading_plan,
    reading_record,
    reading_review,
)
from linli.console.scoping import ScopedAdmin

Status = MeterReading.Status
ENTERED_FIELDS = ["meter", "period_key", "value", "replaced", "start_value", "read_on"]
COMPUTED_FIELDS = ["previous_value", "usage", "status", "flag_reason", "entered_by", "entered_at"]


@admin.register(Meter)
class MeterAdmin(ScopedAdmin):
    unit_path = "unit"
    list_display = ["__str__", "community", "kind", "serial"]
    list_filter = ["community", "unit__building", ("kind", ChoicesDropdownFilter)]
    search_fields = ["unit__room_no", "unit__building__name", "serial"]
    list_select_related = ["community", "unit__building"]
    autocomplete_fields = ["unit"]
    fields = ["unit", "kind", "serial"]

    def get_readonly_fields(self, request, obj=None):
        # A meter with readings stays on its unit and kind; a new meter is a new serial.
        return ["unit", "kind"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.community_id = obj.unit.community_id
        super().save_model(request, obj, form, change)


class MonthFilter(DropdownFilter):
    title = pgettext_lazy("meter reading", "Month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = (
            model_admin.get_queryset(request)
            .order_by("-period_key")
            .values_list("period_key", flat=True)
            .distinct()[:36]
        )
        return [(m, m) for m in months]

    def queryset(self, request, queryset):
        return queryset.filter(period_key=self.value()) if self.value() else queryset


class MeterReadingForm(forms.ModelForm):
    """Checks a reading by the service's rules, so refusals show on the right field."""

    class Meta:
        model = MeterReading
        fields = ENTERED_FIELDS

    def clean(self):
        cleaned = super().clean()
        meter = cleaned.get("meter") or getattr(self.instance, "meter", None)
        period_key = cleaned.get("period_key") or self.instance.period_key
        if meter is None or not period_key or cleaned.get("value") is None:
            return cleaned  # a required field is missing and already reported
        entry = ReadingEntry(
            period_key=period_key.strip(), value=cleaned["value"],
            replaced=bool(cleaned.get("replaced")), start_value=cleaned.get("start_value"),
            read_on=cleaned.get("read_on"),
        )
        try:
            reading_plan(meter=meter, entry=entry)
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
        return cleaned


@admin.register(MeterReading)
class MeterReadingAdmin(ScopedAdmin):
    unit_path = "meter__unit"
    form = MeterReadingForm
    list_display = [
        "meter", "period_key", "value", "previous_value", "usage", "status_label",
        "flag_reason", "read_on",
    ]
    list_display_links = ["meter", "period_key"]
    list_filter = [
        "community",
        "meter__unit__building",
        ("meter__kind", ChoicesDropdownFilter),
        MonthFilter,
        ("status", ChoicesDropdownFilter),
    ]
    search_fields = ["meter__unit__room_no", "meter__unit__building__name", "meter__serial"]
    list_select_related = ["community", "meter__unit__building"]
    autocomplete_fields = ["meter"]
    actions = ["approve_readings", "reject_readings", "export_xlsx"]
    actions_list = ["open_import"]

    def get_ordering(self, request):
        flagged_first = Case(
            When(status=Status.FLAGGED, then=Value(0)), default=Value(1),
            output_field=IntegerField(),
        )
        return [flagged_first, "-period_key", "meter_id"]

    @display(description=pgettext_lazy("meter reading", "Status"), ordering="status", label={
        Status.OK: "success", Status.FLAGGED: "warning", Status.APPROVED: "info",
        Status.REJECTED: "danger",
    })
    def status_label(self, obj):
        return obj.status, obj.get_status_display()

    # --- forms: entered fields only; a stored reading keeps its meter and month -------
    def get_fields(self, request, obj=None):
        return ENTERED_FIELDS if obj is None else ENTERED_FIELDS + COMPUTED_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["meter", "period_key", *COMPUTED_FIELDS]

    def has_change_permission(self, request, obj=None):
        if obj is not None and reading_is_billed(obj):
            return False  # used by a bill: a financial record now
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # a wrong reading is rejected or corrected, never deleted

    def save_model(self, request, obj, form, change):
        saved = reading_record(
            acting_user=request.user, meter=obj.meter, period_key=obj.period_key,
            value=obj.value, replaced=obj.replaced, start_value=obj.start_value,
            read_on=obj.read_on,
        )
        obj.pk = saved.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # The service wrote the audit row; the scoped admin's own would repeat it.
        super(ScopedAdmin, self).save_related(request, form, formsets, change)

    # --- review ------------------------------------------------------------------------
    def _review(self, request, readings, *, approve: bool) -> None:
        done = skipped = 0
        for reading in readings:
            if reading.status != Status.FLAGGED:
                skipped += 1
                continue
            reading_review(acting_user=request.user, reading=reading, approve=approve,
                           note="console")
            done += 1
        if done:
            text = (ngettext("%(count)d reading approved.", "%(count)d readings approved.", done)
                    if approve else
                    ngettext("%(count)d reading rejected.", "%(count)d readings rejected.", done))
            self.message_user(request, text % {"count": done}, messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                ngettext("%(count)d reading was not flagged for review and was left as it is.",
                         "%(count)d readings were not flagged for review and were left as they are.",
                         skipped) % {"count": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Approve selected flagged readings"), permissions=["change"])
    def approve_readings(self, request, queryset):
        self._review(request, queryset, approve=True)

    @admin.action(description=_("Reject selected flagged readings"), permissions=["change"])
    def reject_readings(self, request, queryset):
        self._review(request, queryset, approve=False)

    @action(description=_("Import from Excel"), icon="upload_file", permissions=["add"])
    def open_import(self, request):
        return redirect("billing:meter-readings-import")
