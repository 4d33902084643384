"""One console page for every all-or-nothing Excel import (estate, meter readings, …).

A page is described once by an ``XlsxImportPage``: its title, the permission it needs,
the service that does the import, the workbook template to download and how to show a
finished import. ``page_view()`` and ``template_view()`` give the two views; both
answer 403 without the permission, and a community outside the user's scope answers
404. The page is ``console/xlsx_import.html``: the upload form, then either the counts
of a finished import (``#import-done``) or every wrong row (``#import-errors``).

A file larger than ``LINLI_IMPORT_INLINE_MAX_BYTES`` is not imported in the request: it
is queued as a background job (``linli.core.import_jobs``, task ``import_job``) and the
person is sent to the job's page (``import_job_view``), which refreshes itself with the
rows done until the job has finished, then shows the same result the page would have.
Each page registers itself under its ``key`` so that the job can find its service;
``linli.console.tasks`` imports every module that defines one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from huey.contrib.djhuey import db_task
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget

from linli.core.http import client_ip
from linli.core.import_jobs import import_job_execute, import_job_progress, import_job_queue
from linli.core.models import ImportJob
from linli.core.xlsx import XLSX_CONTENT_TYPE, ImportRefused
from linli.estate.models import Community
from linli.staff.scope import communities_for, require_community_in_scope

TEMPLATE = "console/xlsx_import.html"
JOB_TEMPLATE = "console/import_job.html"
JOB_REFRESH_S = 2
RECENT_JOBS = 5
# key -> page, filled as the pages are defined (see the module's docstring).
PAGES: dict[str, XlsxImportPage] = {}


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
    key: str  # the page's name for its background jobs (ImportJob.kind)
    page_url: str  # URL name of the page itself
    done_link: Callable[[Any], tuple[str, str] | None] = lambda result: None  # (href, text)

    def __post_init__(self) -> None:
        PAGES[self.key] = self

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

    # --- the background path ------------------------------------------------------------
    def _queue(self, request: HttpRequest, form: XlsxImportForm) -> ImportJob | None:
        try:
            return import_job_queue(
                acting_user=request.user, kind=self.key, community=form.cleaned_data["community"],
                file=form.cleaned_data["file"], ip=client_ip(request), enqueue=import_job,
            )
        except ImportRefused as refused:
            form.add_error("file", refused.message)
            return None

    def _recent_jobs(self, communities: QuerySet[Community]) -> list[ImportJob]:
        return list(ImportJob.objects.filter(kind=self.key, community__in=communities)
                    .select_related("community").defer("file_data")[:RECENT_JOBS])

    def run_job(self, job: ImportJob) -> dict:
        """The job's body: the same service as inline, its result kept as the page
        shows it (in the language of the person who uploaded the file)."""
        file = ContentFile(bytes(job.file_data), name=job.file_name)
        try:
            result = self.run(acting_user=job.requested_by, community=job.community,
                              file=file, ip=job.ip)
        except ImportRefused as refused:
            return {"ok": False, "refused": refused.message}
        except PermissionDenied:
            return {"ok": False, "refused": _("You may no longer import into this community.")}
        if not result.ok:
            return {"ok": False, "errors_table": self.errors_table(result)}
        link = self.done_link(result)
        return {
            "ok": True,
            "counts_table": self.counts_table(result),
            "done_message": str(self.done_message) % {"community": job.community},
            "done_link": [str(part) for part in link] if link else None,
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
                    if form.cleaned_data["file"].size > settings.LINLI_IMPORT_INLINE_MAX_BYTES:
                        job = self._queue(request, form)
                        if job is not None:
                            return redirect("console:import-job", pk=job.pk)
                    else:
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
                "jobs": self._recent_jobs(communities),
                "inline_max": settings.LINLI_IMPORT_INLINE_MAX_BYTES,
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


@db_task(retries=2, retry_delay=60, context=True, name="import_job")
def import_job(job_id: int, task=None) -> str:
    """Run a background import (``XlsxImportPage.run_job``); retried after a crash only."""
    kind = ImportJob.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    page = PAGES.get(kind or "")
    if page is None:
        raise LookupError(f"import job #{job_id}: no import page {kind!r}")
    job = import_job_execute(job_id=job_id, run=page.run_job,
                             last_attempt=task is None or not task.retries)
    return job.status


@staff_member_required
@require_http_methods(["GET"])
def import_job_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Where a background import stands; refreshes itself until it has finished."""
    job = (ImportJob.objects.filter(pk=pk, community__in=communities_for(request.user))
           .select_related("community", "requested_by").defer("file_data").first())
    page = PAGES.get(job.kind) if job is not None else None
    if page is None:
        raise Http404("import job not found")
    if not request.user.has_perm(page.permission):
        raise PermissionDenied
    phase, done, total = import_job_progress(job)
    result = job.result or {}
    context = {
        **admin.site.each_context(request),
        "title": _("Background import #%(id)s") % {"id": job.pk},
        "page_title": page.title,
        "page_url": reverse(page.page_url),
        "job": job,
        "phase": phase,
        "rows_done": done,
        "rows_total": total,
        "percent": int(100 * done / total) if total else 0,
        "result": result,
        "done_title": pgettext("xlsx import", "Imported"),
        "refresh_s": None if job.finished else JOB_REFRESH_S,
    }
    return TemplateResponse(request, JOB_TEMPLATE, context)
