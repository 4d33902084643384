"""Pieces the billing console pages share: a service's errors on a form, money and tiers
typed by staff, the object a dialog is about, and a page that saves through services.

Configuration pages save through ``linli.billing.services.config`` (whose validators their
forms also call in ``clean()``), so the console applies exactly the rules the code does;
those services write the audit rows, so ScopedAdmin's own form auditing is bypassed here.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from linli.billing.calculators.tiers import TierTextError, tiers_from_text, tiers_to_text
from linli.console.scoping import ScopedAdmin
from linli.money import MoneyError, format_fen, parse_yuan, plain_number


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


def _in_scope(request, model, object_id):
    """The object a dialog is about, if the user may see it on its page; else 404 (before
    the form is even shown)."""
    try:
        return admin.site._registry[model].get_queryset(request).get(pk=object_id)
    except (model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("not found") from None


def _blank_choices(choices):
    return [("", "---------"), *choices]


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
