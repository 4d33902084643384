"""Submitting console forms the way a browser does: start from what the page shows."""

from __future__ import annotations

import datetime as dt


def _as_post_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else None
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _add_form(data: dict, form) -> None:
    for name in form.fields:
        value = _as_post_value(form[name].value())
        if value is not None:
            data[form.add_prefix(name)] = value


def page_form_data(response) -> dict:
    """The POST data of an admin add/change page as rendered (main form, inlines and
    their management forms), to be edited and posted back."""
    data: dict = {}
    _add_form(data, response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _add_form(data, formset.management_form)
        for form in formset.forms:
            _add_form(data, form)
    return data
