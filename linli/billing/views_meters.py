"""Console pages for meter readings beyond plain CRUD (thin: check, call a service, render)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from linli.billing.services import meters_import
from linli.core.xlsx import XLSX_CONTENT_TYPE, ImportRefused
from linli.estate.models import Community
from linli.staff.scope import communities_for


class ReadingsImportForm(forms.Form):
    community = forms.ModelChoiceField(
        label=pgettext_lazy("meter import", "Community"),
        queryset=Community.objects.none(),
        widget=UnfoldAdminSelectWidget,
    )
    file = forms.FileField(
        label=gettext_lazy("Excel file (.xlsx)"),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": f".xlsx,{XLSX_CONTENT_TYPE}"}),
    )

    def __init__(self, *args, communities: QuerySet[Community], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = communities
        if len(communities) == 1:
            self.fields["community"].initial = communities[0].pk


def _require_in_scope(value: str | None, communities: QuerySet[Community]) -> None:
    """A community id outside the user's scope answers 404, like every console page."""
    if value and (not value.isdigit() or not communities.filter(pk=value).exists()):
        raise Http404("community not found")


def _counts_table(counts: meters_import.ReadingCounts) -> dict:
    return {
        "headers": [
            pgettext("meter import", "New readings"),
            pgettext("meter import", "Corrected"),
            pgettext("meter import", "Unchanged"),
            pgettext("meter import", "Held for review"),
            pgettext("meter import", "Meters added"),
        ],
        "rows": [[counts.created, counts.corrected, counts.unchanged, counts.flagged,
                  counts.meters_created]],
    }


def _errors_table(result: meters_import.ReadingsImportResult) -> dict:
    return {
        "headers": [
            pgettext("meter import", "Sheet"),
            pgettext("meter import", "Row"),
            pgettext("meter import", "Column"),
            pgettext("meter import", "Reason"),
        ],
        "rows": [[e.sheet, e.row_number, e.column, e.message] for e in result.errors],
    }


def _run_import(request: HttpRequest, form: ReadingsImportForm):
    try:
        return meters_import.readings_import(
            acting_user=request.user,
            community=form.cleaned_data["community"],
            file=form.cleaned_data["file"],
            ip=request.META.get("REMOTE_ADDR"),
        )
    except ImportRefused as refused:
        form.add_error("file", refused.message)
        return None


@staff_member_required
@permission_required(meters_import.IMPORT_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def readings_import(request: HttpRequest) -> HttpResponse:
    communities = communities_for(request.user)
    result = None
    if request.method == "POST":
        _require_in_scope(request.POST.get("community"), communities)
        form = ReadingsImportForm(request.POST, request.FILES, communities=communities)
        if form.is_valid():
            result = _run_import(request, form)
    else:
        form = ReadingsImportForm(communities=communities)
    context = {
        **admin.site.each_context(request),
        "title": _("Import meter readings from Excel"),
        "form": form,
        "result": result,
        "counts_table": _counts_table(result.counts) if result and result.ok else None,
        "errors_table": _errors_table(result) if result and not result.ok else None,
        "sheet": meters_import.SHEET,
    }
    return TemplateResponse(request, "billing/meters_import.html", context)


@staff_member_required
@permission_required(meters_import.IMPORT_PERMISSION, raise_exception=True)
@require_GET
def readings_import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(meters_import.readings_import_template(),
                            content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=_("meter-readings-template.xlsx")
    )
    return response
