"""The takings report's filters and the drill-down's query, checked (bad input is said on
the page; nothing is read outside the staff member's communities)."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.dashboard import takings as tk

MAX_DAYS = 400


class TakingsForm(forms.Form):
    period = forms.ChoiceField(label=_("Report"), required=False, choices=[
        ("day", _("Daily takings report")), ("month", _("Monthly takings report"))])
    day = forms.DateField(label=pgettext_lazy("takings", "Day"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))
    month = forms.CharField(label=_("Month (YYYY-MM)"), required=False, max_length=7)
    community = forms.ChoiceField(label=pgettext_lazy("counter", "Community"), required=False)

    def __init__(self, *args, communities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["community"].choices = [("", _("All my communities"))] + [
            (str(c.pk), c.name) for c in communities]

    def clean_month(self) -> dt.date | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        match = re.fullmatch(r"(\d{4})-(\d{1,2})", value)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise forms.ValidationError(_("Write the month as YYYY-MM, for example 2026-03."))
        return dt.date(int(match[1]), int(match[2]), 1)

    def values(self) -> tuple[str, dt.date, int | None]:
        """(period, first day, community id); what was written wrong falls back."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if self.is_bound and not self.is_valid():
            data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        period = data.get("period") or "day"
        today = timezone.localdate()
        if period == "month":
            first = data.get("month") or tk.month_first(data.get("day") or today)
        else:
            first = data.get("day") or today
        community = data.get("community")
        return period, first, int(community) if community else None


class RowsForm(forms.Form):
    """Which figure's records: the days, and optionally community, cashier (0: online),
    channel and kind."""

    start = forms.DateField()
    end = forms.DateField()
    community = forms.IntegerField(required=False, min_value=1)
    cashier = forms.IntegerField(required=False, min_value=0)
    channel = forms.ChoiceField(required=False, choices=[("", "")] + [
        (c.value, c.label) for c in tk.MONEY_CHANNELS])
    kind = forms.ChoiceField(required=False, choices=[("", "")] + list(tk.KINDS.items()))

    def __init__(self, data, **kwargs):
        data = {"start": data.get("from"), "end": data.get("to"),
                **{k: data.get(k) for k in ("community", "cashier", "channel", "kind")}}
        super().__init__(data, **kwargs)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and not 0 <= (end - start).days <= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days, the first day "
                                          "before the last.") % {"days": MAX_DAYS})
        return data
