"""Forms of the counter desk and the daily takings page.

Money is typed in yuan ("123.45", "1,234.5", full-width digits) and parsed exactly to
integer fen by ``linli.money.parse_yuan``: more than two decimals, negatives, zero and
anything that is not a number are refused with a message, never rounded.
"""

from __future__ import annotations

import re
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from linli.estate.models import Community
from linli.money import MoneyError, parse_yuan
from linli.payments.models import COUNTER_CHANNELS, Channel

KEY_RE = re.compile(r"^[0-9a-f]{32}$")
SEEN_RE = re.compile(r"^(\d+:\d+(,\d+:\d+)*)?$")
COUNTER_CHANNEL_CHOICES = [(c, Channel(c).label) for c in COUNTER_CHANNELS]
# Channels whose money can be traced only by its number (slip, transfer, cheque).
NEEDS_REFERENCE = (Channel.POS, Channel.TRANSFER, Channel.CHEQUE)


def parse_amount_fen(text: str) -> int:
    """A positive amount of yuan as typed → fen; ``ValidationError`` otherwise."""
    try:
        amount_fen = parse_yuan(text or "")
    except MoneyError as exc:
        raise ValidationError(str(exc)) from None
    if amount_fen <= 0:
        raise ValidationError(_("The amount must be more than zero."))
    return amount_fen


class KeyedForm(forms.Form):
    """A form that records money once: its key is made when the form is first shown and
    travels with every step, so a double click or a reload records nothing twice."""

    key = forms.RegexField(regex=KEY_RE, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4().hex)


class ChannelMixin(forms.Form):
    channel = forms.ChoiceField(label=pgettext_lazy("payment", "Channel"),
                                choices=COUNTER_CHANNEL_CHOICES, initial=Channel.CASH,
                                widget=UnfoldAdminSelectWidget)
    reference = forms.CharField(
        label=gettext_lazy("Reference"), max_length=64, required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=gettext_lazy("POS slip, transfer or cheque number."),
    )
    payer_name = forms.CharField(label=gettext_lazy("Paid in by"), max_length=50,
                                 required=False, widget=UnfoldAdminTextInputWidget)

    def clean_reference(self) -> str:
        return self.cleaned_data["reference"].strip()

    def clean_payer_name(self) -> str:
        return self.cleaned_data["payer_name"].strip()

    def clean(self):
        data = super().clean()
        if data.get("channel") in NEEDS_REFERENCE and not data.get("reference"):
            self.add_error("reference", _("Give the POS slip, transfer or cheque number."))
        return data


class BillIdsField(forms.Field):
    """The ticked bills: a list of ids (checkboxes, or hidden inputs on the review)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        ids = []
        for item in value:
            if not str(item).isdigit():
                raise ValidationError(_("Choose the bills to pay."))
            ids.append(int(item))
        return sorted(set(ids))


class CounterPayForm(KeyedForm, ChannelMixin):
    bills = BillIdsField(required=False)
    # What each listed bill cost when the page was shown: "bill id:fen,…". The server
    # compares it with now and records nothing if anything changed meanwhile.
    seen = forms.RegexField(regex=SEEN_RE, required=False, widget=forms.HiddenInput)
    received = forms.CharField(
        label=gettext_lazy("Amount received (yuan)"), max_length=20,
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    keep_change = forms.BooleanField(
        label=gettext_lazy("Keep the change as prepaid balance"), required=False,
        widget=UnfoldBooleanWidget,
    )

    field_order = ["key", "bills", "seen", "channel", "reference", "payer_name", "received",
                   "keep_change"]

    def clean_received(self) -> int:
        return parse_amount_fen(self.cleaned_data["received"])

    def seen_fen(self) -> dict[int, int]:
        raw = self.cleaned_data.get("seen") or ""
        return {int(b): int(f) for b, f in (pair.split(":") for pair in raw.split(",") if pair)}


class CounterDepositForm(KeyedForm, ChannelMixin):
    amount = forms.CharField(
        label=gettext_lazy("Amount (yuan)"), max_length=20,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "1000.00", "inputmode": "decimal",
                                                 "autocomplete": "off"}),
    )

    field_order = ["key", "amount", "channel", "reference", "payer_name"]

    def clean_amount(self) -> int:
        return parse_amount_fen(self.cleaned_data["amount"])


class SearchForm(forms.Form):
    community = forms.ModelChoiceField(
        label=pgettext_lazy("counter", "Community"), queryset=Community.objects.none(),
        required=False, empty_label=gettext_lazy("All my communities"),
        widget=UnfoldAdminSelectWidget,
    )
    building = forms.CharField(label=pgettext_lazy("counter", "Building"), max_length=30,
                               required=False,
                               widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "3栋"}))
    room = forms.CharField(label=pgettext_lazy("counter", "Room"), max_length=20, required=False,
                           widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "1801"}))
    name = forms.CharField(label=gettext_lazy("Owner or occupant name"), max_length=50,
                           required=False, widget=UnfoldAdminTextInputWidget)
    phone = forms.CharField(label=gettext_lazy("Mobile (or its last digits)"), max_length=20,
                            required=False,
                            widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "tel"}))

    def __init__(self, *args, communities, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = communities

    def searched(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(k) for k in ("building", "room", "name", "phone"))


class DayInput(UnfoldAdminTextInputWidget):
    """The browser's own date picker; the value travels as YYYY-MM-DD."""

    input_type = "date"

    def format_value(self, value):
        return value.isoformat() if hasattr(value, "isoformat") else value


class TakingsForm(forms.Form):
    cashier = forms.TypedChoiceField(label=gettext_lazy("Cashier"), coerce=int, required=False,
                                     widget=UnfoldAdminSelectWidget)
    day = forms.DateField(label=pgettext_lazy("takings", "Day"), required=False,
                          input_formats=["%Y-%m-%d"], widget=DayInput)
    community = forms.ModelChoiceField(
        label=pgettext_lazy("counter", "Community"), queryset=Community.objects.none(),
        required=False, empty_label=gettext_lazy("All my communities"),
        widget=UnfoldAdminSelectWidget,
    )

    def __init__(self, *args, cashiers: list[tuple[int, str]], communities, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cashier"].choices = cashiers
        self.fields["community"].queryset = communities
        self.fields["day"].initial = timezone.localdate()
