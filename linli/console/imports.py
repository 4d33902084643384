"""One console page for every all-or-nothing Excel import (estate, meter readings, …).

A page is described once by an ``XlsxImportPage``: its title, the permission it needs,
the service that does the import, the workbook template to download and how to show a
finished import. ``page_view()`` and ``template_view()`` give the two views; both
answer 403 without the permission, and a community outside the user's scope answers
404. The page is ``console/xlsx_import.html``: the upload form, then either the counts
of a finished import (``#import-done``) or every wrong row (``#import-errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from linli.core.http import client_ip
from linli.core.xlsx import XLSX_CONTENT_TYPE, ImportRefused
from linli.estate.models import Community
from linli.staff.scope import communities_for, require_community_in_scope

TEMPLATE = "console/xlsx_import.html"


class XlsxImportForm(forms.Form):
    community = forms.ModelChoiceField(
        queryset=Community.objects.none(), widget=UnfoldAdminSelectWidget
    )
    file = forms.FileField(
        label=gettext_lazy("Excel file (.xlsx)"),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": f".xlsx,{XLSX_CONTENT_TYPE}"}),
    )

    def __init__(self, *args, communities: QuerySet[Community], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        community = self.fields["community"]
        community.label = pgettext_lazy("xlsx import", "Community")
        community.queryset = communities
        if len(communities) == 1:
            community.initial = communities[0].pk



@dataclass(frozen=True)
class XlsxImportPage:
    """What differs between two import pages; everything else is shared.

    ``run`` is the service: ``run(acting_user=, community=, file=, ip=)`` returns a
    result with ``ok`` and ``errors`` (``RowError``s) or raises ``ImportRefused``.
    """

    title: Any  # lazy text
    permission: str
    run: Callable[..., Any]
    intro: Callable[[], str]  # the paragraph above the form
    done_message: Any  # lazy text with %(community)s
    counts_table: Callable[[Any], dict]  # a finished import's counts as an unfold table
    template_url: str  # URL name of the template download
    template: Callable[[], bytes]
    template_filename: Any  # lazy text
    form_id: str
    done_link: Callable[[Any], tuple[str, str] | None] = lambda result: None  # (href, text)

    def errors_table(self, result: Any) -> dict:
        return {
            "headers": [
                pgettext("xlsx import", "Sheet"),
                pgettext("xlsx import", "Row"),
                pgettext("xlsx import", "Column"),
                pgettext("xlsx import", "Reason"),
            ],
            "rows": [[e.sheet, e.row_number, e.column, e.message] for e in result.errors],
        }

    def _run(self, request: HttpRequest, form: XlsxImportForm) -> Any:
        try:
            return self.run(
                acting_user=request.user,
                community=form.cleaned_data["community"],
                file=form.cleaned_data["file"],
                ip=client_ip(request),
            )
        except ImportRefused as refused:
            form.add_error("file", refused.message)
            return None

    def _done(self, result: Any, form: XlsxImportForm) -> dict:
        if not (result and result.ok):
            return {}
        return {
            "counts_table": self.counts_table(result),
            "done_message": str(self.done_message)
            % {"community": form.cleaned_data["community"]},
            "done_link": self.done_link(result),
        }

    def page_view(self) -> Callable[[HttpRequest], HttpResponse]:
        @staff_member_required
        @permission_required(self.permission, raise_exception=True)
        @require_http_methods(["GET", "POST"])
        def view(request: HttpRequest) -> HttpResponse:
            communities = communities_for(request.user)
            result = None
            if request.method == "POST":
                require_community_in_scope(request.POST.get("community"), communities)
                form = XlsxImportForm(
                    request.POST, request.FILES, communities=communities
                )
                if form.is_valid():
                    result = self._run(request, form)
            else:
                form = XlsxImportForm(communities=communities)
            context = {
                **admin.site.each_context(request),
                "title": str(self.title),
                "intro": self.intro(),
                "template_url": self.template_url,
                "form_id": self.form_id,
                "submit_label": pgettext("xlsx import", "Import"),
                "done_title": pgettext("xlsx import", "Imported"),
                "form": form,
                "result": result,
                **self._done(result, form),
                "errors_table": self.errors_table(result) if result and not result.ok else None,
            }
            return TemplateResponse(request, TEMPLATE, context)

        return view

    def template_view(self) -> Callable[[HttpRequest], HttpResponse]:
        @staff_member_required
        @permission_required(self.permission, raise_exception=True)
        @require_GET
        def view(request: HttpRequest) -> HttpResponse:
            response = HttpResponse(self.template(), content_type=XLSX_CONTENT_TYPE)
            response["Content-Disposition"] = content_disposition_header(
                as_attachment=True, filename=str(self.template_filename)
            )
            return response

        return view
