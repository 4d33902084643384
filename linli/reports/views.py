"""The reports as console pages (thin: read the filters, ask ``rates``/``drill``,
render or export). Every figure links to the records behind it (``drill``), and every
page exports to .xlsx with ``?export=xlsx``."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from linli.billing.models import FeeItem
from linli.estate.models import Building, Community
from linli.money import format_fen
from linli.reports import rates
from linli.reports.definitions import DEFINITIONS, format_rate
from linli.reports.drill import drill
from linli.reports.forms import BY, ReportFilters
from linli.reports.views_arrears import arrears_page
from linli.reports.xlsx import Column, report_xlsx

PERMISSION = "billing.view_bill"

# (figure, kind) of the collection report's columns; fen figures drill down.
COLLECTION = [("charged", "yuan"), ("collected", "yuan"), ("rate", "rate"),
              ("opening", "yuan"), ("recovered", "yuan"), ("recovery_rate", "rate"),
              ("overall_rate", "rate"), ("households", "rate"), ("advance", "yuan"),
              ("late_fee", "yuan"), ("owed", "yuan")]
SUMMARY = [("issued", "yuan"), ("waived", "yuan"), ("charged", "yuan"),
           ("collected", "yuan"), ("refunded", "yuan"), ("owed", "yuan"), ("rate", "rate")]


def _filters(request: HttpRequest) -> ReportFilters:
    """The filters asked for (none: this month, as of today, by community)."""
    form = ReportFilters(request.GET, user=request.user)
    form.is_valid()
    return form


def _value(fig: rates.Figures, name: str):
    if name == "households":
        return fig.households_rate
    if name in ("rate", "recovery_rate", "overall_rate"):
        return getattr(fig, name)
    if name == "waived":
        return fig.waived_fen
    return getattr(fig, f"{name}_fen")


def _label(name: str) -> str:
    extra = {"issued": _("Billed (before waivers)"), "waived": _("Waived or cancelled"),
             "refunded": _("Refunded")}
    return extra.get(name) or str(DEFINITIONS[name].name)


def _title(name: str) -> str:
    key = {"households": "households", "issued": "charged", "waived": "charged",
           "refunded": "collected"}.get(name, name)
    return str(DEFINITIONS[key].text)


def drill_url(form: ReportFilters, figure: str, **override) -> str:
    params = {k: v for k, v in (form.data or {}).items()
              if k in ("community", "building", "fee_item", "period", "as_of") and v}
    params.update({"period": form.period_key, "as_of": form.as_of_day.isoformat()})
    params.update({k: v for k, v in override.items() if v is not None})
    params["figure"] = figure
    return reverse("reports:drill") + "?" + urlencode(params)


def _cell(form, fig, name: str, kind: str, override: dict) -> dict:
    value = _value(fig, name)
    if kind == "rate":
        text = format_rate(value)
        if name == "households":
            text += f" ({fig.units_paid_up}/{fig.units_charged})"
        return {"text": text}
    if value is None:
        return {"text": "—"}
    drillable = name in ("charged", "collected", "opening", "recovered", "advance",
                         "late_fee", "owed")
    return {"text": format_fen(value),
            "link": drill_url(form, name, **override) if drillable else ""}


def _names(model, ids) -> dict:
    if model is Building:
        return {b.pk: f"{b.community.name} {b.name}" for b in
                Building.objects.filter(pk__in=ids).select_related("community")}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", "name"))


def _grouped_rows(form, columns) -> list[tuple[str, dict, rates.Figures]]:
    """(label, drill override, figures) per row, by the form's ``by``."""
    scope = form.scope()
    if form.rows_by == "month":
        return [(w.key, {"period": w.key}, fig)
                for w, fig in rates.by_month(scope, form.year, form.as_of_day)]
    if form.rows_by == "company":
        return [(_("All my communities"), {},
                 rates.collection_rate(scope, form.window, form.as_of_day))]
    model = {"community": Community, "building": Building, "fee_item": FeeItem}[form.rows_by]
    found = rates.figures_by(scope, form.window, form.as_of_day, (form.rows_by,))
    names = _names(model, [k[0] for k in found])
    rows = [(names.get(k[0], "—"), {form.rows_by: k[0]}, fig) for k, fig in found.items()]
    return sorted(rows, key=lambda r: r[0])


def _table_page(request, form, *, title, columns, rows, template_name, filename, extra=None):
    headers = [{"text": _label(n), "title": _title(n)} for n, _kind in columns]
    definitions = sorted({"households" if n == "households" else n for n, _k in columns
                          if n in DEFINITIONS} | {"charged", "collected"},
                         key=list(DEFINITIONS).index)
    if request.GET.get("export") == "xlsx" and form.is_bound and not form.errors:
        xcolumns = [Column(_("Rows"))] + [Column(_label(n), k) for n, k in columns]
        xrows = [[label, *[_value(fig, n) for n, _k in columns]] for label, _o, fig in rows]
        return report_xlsx(title=title, filters=form.used(), columns=xcolumns, rows=xrows,
                           definitions=definitions, filename=filename)
    table = [{"label": label, "cells": [_cell(form, fig, n, k, override) for n, k in columns]}
             for label, override, fig in rows]
    context = {**admin.site.each_context(request), "title": title, "form": form,
               "headers": headers, "table": table, "used": form.used() if form.is_bound
               and not form.errors else [], "definitions": [DEFINITIONS[k] for k in definitions],
               "export_url": "?" + urlencode({**request.GET.dict(), "export": "xlsx"}),
               **(extra or {})}
    return TemplateResponse(request, template_name, context)


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def collection(request: HttpRequest) -> HttpResponse:
    """收缴率 by company, community, building, fee item, or month by month."""
    form = _filters(request)
    rows = [] if form.errors else _grouped_rows(form, COLLECTION)
    return _table_page(request, form, title=_("Collection rate"), columns=COLLECTION,
                       rows=rows, template_name="reports/table.html",
                       filename=f"{_('Collection rate')}-{form.period_key}.xlsx",
                       extra={"tabs": [(k, v, k == form.rows_by) for k, v in BY]})


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def summary(request: HttpRequest) -> HttpResponse:
    """费用汇总 per building and fee item."""
    form = _filters(request)
    rows = []
    if not form.errors:
        found = rates.figures_by(form.scope(), form.window, form.as_of_day, ("building", "fee_item"))
        buildings = _names(Building, [k[0] for k in found])
        items = _names(FeeItem, [k[1] for k in found])
        rows = sorted((f"{buildings.get(b, '—')} · {items.get(i, '—')}",
                       {"building": b, "fee_item": i}, fig) for (b, i), fig in found.items())
    return _table_page(request, form, title=_("Fees summary"), columns=SUMMARY, rows=rows,
                       template_name="reports/table.html",
                       filename=f"{_('Fees summary')}-{form.period_key}.xlsx")


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def arrears(request: HttpRequest) -> HttpResponse:
    """欠费明细 per unit, by aging bucket."""
    return arrears_page(request, _filters(request), drill_url)


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def drill_down(request: HttpRequest) -> HttpResponse:
    """The records behind one figure; their signed totals add up to it."""
    form = _filters(request)
    figure = request.GET.get("figure", "")
    if form.errors or figure not in DRILLABLE:
        context = {**admin.site.each_context(request), "title": _("Records behind a figure"),
                   "form": form, "refused": _("Choose a figure of a report to open.")}
        return TemplateResponse(request, "reports/drill.html", context, status=400)
    found = drill(figure, form.scope(), form.window, form.as_of_day,
                  bucket=form.cleaned_data.get("bucket"))
    name = (DEFINITIONS["aging"].name if figure == "aging" else DEFINITIONS[figure].name)
    context = {**admin.site.each_context(request), "title": name, "form": form,
               "drill": found, "total": format_fen(found.total_fen), "used": form.used(),
               "definition": DEFINITIONS[figure]}
    return TemplateResponse(request, "reports/drill.html", context)


DRILLABLE = ("charged", "collected", "opening", "recovered", "advance", "late_fee", "owed",
             "aging")
