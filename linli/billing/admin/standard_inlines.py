"""The inlines on a standard's page: its prices and its bindings, each row checked by a
service validator and saved by services (a used price, a binding's target: read-only)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.forms import PaginationInlineFormSet
from unfold.widgets import UnfoldAdminSelectWidget

from linli.billing.admin.forms import TiersField, _blank_choices, add_service_errors
from linli.billing.models import Binding, StandardRate
from linli.billing.services import config
from linli.console.scoping import ScopedTabularInline
from linli.estate.models import Unit


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
