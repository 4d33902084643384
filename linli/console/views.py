"""Console workflow pages beyond plain CRUD (thin: check, call a service, render)."""

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

from linli.estate import imports as estate_imports
from linli.estate.models import Community
from linli.staff.scope import communities_for

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EstateImportForm(forms.Form):
    community = forms.ModelChoiceField(
        label=pgettext_lazy("estate import", "Community"),
        queryset=Community.objects.none(),
        widget=UnfoldAdminSelectWidget,
    )
    file = forms.FileField(
        label=gettext_lazy("Excel file (.xlsx)"),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": f".xlsx,{XLSX_TYPE}"}),
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


def _counts_table(result: estate_imports.ImportResult) -> dict:
    return {
        "headers": [
            pgettext("estate import", "Sheet"),
            pgettext("estate import", "Created"),
            pgettext("estate import", "Updated"),
            pgettext("estate import", "Unchanged"),
        ],
        "rows": [[sheet, c.created, c.updated, c.unchanged] for sheet, c in result.counts.items()],
    }


def _errors_table(result: estate_imports.ImportResult) -> dict:
    return {
        "headers": [
            pgettext("estate import", "Sheet"),
            pgettext("estate import", "Row"),
            pgettext("estate import", "Column"),
            pgettext("estate import", "Reason"),
        ],
        "rows": [[e.sheet, e.row_number, e.column, e.message] for e in result.errors],
    }


def _run_import(request: HttpRequest, form: EstateImportForm) -> estate_imports.ImportResult | None:
    try:
        return estate_imports.estate_import(
            acting_user=request.user,
            community=form.cleaned_data["community"],
            file=form.cleaned_data["file"],
            ip=request.META.get("REMOTE_ADDR"),
        )
    except estate_imports.ImportRefused as refused:
        form.add_error("file", refused.message)
        return None


@staff_member_required
@permission_required(estate_imports.IMPORT_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def estate_import(request: HttpRequest) -> HttpResponse:
    communities = communities_for(request.user)
    result = None
    if request.method == "POST":
        _require_in_scope(request.POST.get("community"), communities)
        form = EstateImportForm(request.POST, request.FILES, communities=communities)
        if form.is_valid():
            result = _run_import(request, form)
    else:
        form = EstateImportForm(communities=communities)
    context = {
        **admin.site.each_context(request),
        "title": _("Import estate from Excel"),
        "form": form,
        "result": result,
        "counts_table": _counts_table(result) if result and result.ok else None,
        "errors_table": _errors_table(result) if result and not result.ok else None,
        "sheets": [spec.name for spec in estate_imports.SHEETS],
    }
    return TemplateResponse(request, "console/estate_import.html", context)


@staff_member_required
@permission_required(estate_imports.IMPORT_PERMISSION, raise_exception=True)
@require_GET
def estate_import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(estate_imports.estate_import_template(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=_("estate-import-template.xlsx")
    )
    return response
