"""Bill runs in the console: choose → preview → commit, and reversal (thin: check scope
and input, call one service, render).

The preview and the commit post the same parameters; the commit also posts the figures
the person saw, and the service refuses (writing nothing) if the data changed since.

A commit of more than ``LINLI_BILL_RUN_INLINE_MAX`` bills is not run inside the web
request: it is queued as a background job (``services.bill_run_jobs``) and the person
is sent to the job's page, which refreshes itself until the job is done or failed. The
preview page carries a token, so a double click queues one job.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_http_methods
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from linli.billing.models import BillRun, BillRunJob, FeeItem
from linli.billing.services.bill_run import (
    bill_run_commit,
    bill_run_preview,
    preview_fee_items,
    preview_sample,
)
from linli.billing.services.bill_run_jobs import bill_run_job_queue, new_token
from linli.billing.services.bill_run_reversal import BillRunReversalError, bill_run_reverse
from linli.billing.services.planning import BillRunError
from linli.estate.models import Community
from linli.money import format_fen, format_price, plain_number
from linli.staff.names import person_name
from linli.staff.scope import communities_for, require_community_in_scope

RUN_PERMISSION = "billing.add_billrun"
REVERSE_PERMISSION = "billing.change_billrun"
RECENT_RUNS = 20
RECENT_JOBS = 10
JOB_REFRESH_S = 3


class BillRunForm(forms.Form):
    community = forms.ModelChoiceField(
        label=pgettext_lazy("bill run", "Community"), queryset=Community.objects.none(),
        widget=UnfoldAdminSelectWidget,
    )
    period = forms.RegexField(
        label=pgettext_lazy("bill run", "Month"), regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        max_length=7, widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "YYYY-MM"}),
        error_messages={"invalid": gettext_lazy("Write the month as YYYY-MM, e.g. 2026-11.")},
    )
    fee_items = forms.ModelMultipleChoiceField(
        label=pgettext_lazy("bill run", "Fee items"), queryset=FeeItem.objects.none(),
        required=False, widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=gettext_lazy("None ticked = every active fee item of the community."),
    )
    # The figures of the preview being committed (hidden; set by the preview page).
    expected_count = forms.IntegerField(required=False, widget=forms.HiddenInput)
    expected_total_fen = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # One per preview page: a double click on a background commit queues one job.
    commit_token = forms.CharField(required=False, max_length=36, widget=forms.HiddenInput)

    def __init__(self, *args, communities: QuerySet[Community], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["community"].queryset = communities
        if len(communities) == 1:
            self.fields["community"].initial = communities[0].pk
        self.fields["period"].initial = f"{timezone.localdate():%Y-%m}"
        items = FeeItem.objects.filter(community__in=communities, active=True).select_related(
            "community").order_by("community_id", "sort_order", "id")
        self.fields["fee_items"].queryset = items
        if len(communities) > 1:
            self.fields["fee_items"].label_from_instance = (
                lambda item: f"{item.community.name} · {item.name}"
            )

    def clean(self):
        data = super().clean()
        community, items = data.get("community"), data.get("fee_items") or []
        if community and any(item.community_id != community.pk for item in items):
            self.add_error("fee_items", _("Tick only fee items of the chosen community."))
        return data

    def run_args(self) -> dict:
        data = self.cleaned_data
        return {
            "community_id": data["community"].pk,
            "period_key": data["period"],
            "fee_item_ids": [item.pk for item in data["fee_items"]] or None,
        }

    def expected(self) -> tuple[int, int] | None:
        count, total = self.cleaned_data["expected_count"], self.cleaned_data["expected_total_fen"]
        return None if count is None or total is None else (count, total)



@staff_member_required
@permission_required(RUN_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def bill_runs(request: HttpRequest) -> HttpResponse:
    communities = communities_for(request.user)
    preview = None
    if request.method == "POST":
        require_community_in_scope(request.POST.get("community"), communities)
        form = BillRunForm(request.POST, communities=communities)
        if form.is_valid():
            if request.POST.get("action") == "commit" and _in_background(form):
                job = _queue(request, form)
                return HttpResponseRedirect(reverse("billing:bill-run-job", args=[job.pk]))
            if request.POST.get("action") == "commit":
                run = _commit(request, form)
                if run is not None:
                    return HttpResponseRedirect(
                        reverse("admin:billing_billrun_change", args=[run.pk])
                    )
            preview = _preview(form)
    else:
        form = BillRunForm(communities=communities)
    context = {
        **admin.site.each_context(request),
        "title": _("Bill runs"),
        "form": form,
        "preview": preview,
        "runs_table": _runs_table(communities, request.user.has_perm(REVERSE_PERMISSION)),
        "jobs_table": _jobs_table(communities),
    }
    return TemplateResponse(request, "billing/bill_runs.html", context)


def _inline_max() -> int:
    return settings.LINLI_BILL_RUN_INLINE_MAX


def _in_background(form: BillRunForm) -> bool:
    expected = form.expected()
    return expected is not None and expected[0] > _inline_max()


def _preview(form: BillRunForm) -> dict | None:
    try:
        preview = bill_run_preview(**form.run_args())
    except BillRunError as exc:
        form.add_error(None, str(exc))
        return None
    items = preview_fee_items(preview)
    return {
        "preview": preview,
        "community": form.cleaned_data["community"],
        "period_key": preview.period_key,
        "fee_item_ids": form.run_args()["fee_item_ids"] or [],
        "total": format_fen(preview.total_fen),
        "background": preview.bill_count > _inline_max(),
        "commit_token": new_token(),
        "items_table": {
            "headers": [_("Fee item"), _("Bills"), _("Amount")],
            "rows": [[i["name"], i["count"], format_fen(i["total_fen"])] for i in items]
            + [[_("Total"), preview.bill_count, format_fen(preview.total_fen)]],
        },
        "sample_table": {
            "headers": [_("Unit"), _("Fee item"), _("Period"), _("Quantity"), _("Unit price"),
                        _("Amount"), _("Due"), _("Share of period")],
            "rows": [[r.target, r.fee_item, r.period_key, plain_number(r.quantity),
                      format_price(r.unit_price),
                      format_fen(r.amount_fen), r.due_date, r.proration]
                     for r in preview_sample(preview)],
        },
    }


def _commit(request: HttpRequest, form: BillRunForm) -> BillRun | None:
    try:
        run, _preview = bill_run_commit(
            acting_user=request.user, expected=form.expected(), **form.run_args()
        )
    except BillRunError as exc:
        form.add_error(None, str(exc))
        return None
    if run is None:
        messages.info(request, _("Nothing to issue: every bill of this month has been issued "
                                 "already, so no run was recorded."))
        return None
    messages.success(request, _("Bill run #%(id)s issued %(n)s bills, %(total)s in all.") % {
        "id": run.pk, "n": run.bill_count, "total": format_fen(run.total_fen),
    })
    return run


def _queue(request: HttpRequest, form: BillRunForm) -> BillRunJob:
    job, created = bill_run_job_queue(
        acting_user=request.user, token=form.cleaned_data["commit_token"] or new_token(),
        expected=form.expected(), **form.run_args(),
    )
    if created:
        messages.info(request, _("The bill run is large, so it is committed in the background "
                                 "(job #%(id)s); this page shows how it goes.") % {"id": job.pk})
    return job


def _jobs_table(communities: QuerySet[Community]) -> dict | None:
    jobs = list(BillRunJob.objects.filter(community__in=communities)
                .select_related("community", "requested_by__staff").order_by("-id")[:RECENT_JOBS])
    if not jobs:
        return None
    rows = [
        [format_html('<a class="text-primary-600 underline" href="{}">#{}</a>',
                     reverse("billing:bill-run-job", args=[job.pk]), job.pk),
         job.community.name, job.period_key, job.get_status_display(), job.expected_count,
         format_fen(job.expected_total_fen), person_name(job.requested_by),
         date_format(timezone.localtime(job.created_at), "SHORT_DATETIME_FORMAT")]
        for job in jobs
    ]
    return {
        "headers": [_("Job"), pgettext("bill run", "Community"), pgettext("bill run", "Month"),
                    _("Status"), _("Bills"), _("Amount"), _("By"), _("Queued")],
        "rows": rows,
    }


@staff_member_required
@permission_required(RUN_PERMISSION, raise_exception=True)
@require_http_methods(["GET"])
def bill_run_job_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Where a background commit stands; refreshes itself until it is finished."""
    job = BillRunJob.objects.filter(
        pk=pk, community__in=communities_for(request.user)
    ).select_related("community", "run").first()
    if job is None:
        raise Http404("bill run job not found")
    context = {
        **admin.site.each_context(request),
        "title": _("Background bill run #%(id)s") % {"id": job.pk},
        "job": job,
        "total": format_fen(job.expected_total_fen),
        "run_total": format_fen(job.run.total_fen) if job.run else "",
        "refresh_s": None if job.finished else JOB_REFRESH_S,
    }
    return TemplateResponse(request, "billing/bill_run_job.html", context)


def _runs_table(communities: QuerySet[Community], can_reverse: bool) -> dict:
    runs = (BillRun.objects.filter(community__in=communities)
            .select_related("community", "created_by__staff").order_by("-id")[:RECENT_RUNS])
    rows = []
    for run in runs:
        link = format_html('<a class="text-primary-600 underline" href="{}">#{}</a>',
                           reverse("admin:billing_billrun_change", args=[run.pk]), run.pk)
        action = ""
        if can_reverse and run.status == BillRun.Status.COMMITTED and run.bill_count:
            action = format_html('<a class="text-red-600 underline" href="{}">{}</a>',
                                 reverse("billing:bill-run-reverse", args=[run.pk]),
                                 _("Reverse"))
        rows.append([link, run.community.name, run.period_key, run.get_status_display(),
                     run.bill_count, format_fen(run.total_fen), person_name(run.created_by),
                     date_format(timezone.localtime(run.created_at), "SHORT_DATETIME_FORMAT"),
                     action])
    return {
        "headers": [_("Run"), pgettext("bill run", "Community"), pgettext("bill run", "Month"),
                    _("Status"), _("Bills"), _("Amount"), _("By"), _("Created"), ""],
        "rows": rows,
    }


class ReverseForm(forms.Form):
    reason = forms.CharField(
        label=pgettext_lazy("bill run", "Reason"), max_length=200,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}),
    )


@staff_member_required
@permission_required(REVERSE_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def bill_run_reverse_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = BillRun.objects.filter(
        pk=pk, community__in=communities_for(request.user)
    ).select_related("community").first()
    if run is None:
        raise Http404("bill run not found")
    form = ReverseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            bill_run_reverse(acting_user=request.user, run=run,
                             reason=form.cleaned_data["reason"])
        except BillRunReversalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Bill run #%(id)s was reversed; its bills are cancelled.")
                             % {"id": run.pk})
            return HttpResponseRedirect(reverse("admin:billing_billrun_change", args=[run.pk]))
    context = {
        **admin.site.each_context(request),
        "title": _("Reverse bill run #%(id)s") % {"id": run.pk},
        "run": run,
        "total": format_fen(run.total_fen),
        "form": form,
    }
    return TemplateResponse(request, "billing/bill_run_reverse.html", context)
