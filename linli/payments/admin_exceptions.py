"""Console pages of money that did not fit: payment anomalies and the automatic refunds
that need staff. Both are read-only; every decision is a dialog with a reason that calls
a service (``resolutions.anomaly_resolve``, ``auto_refunds.order_refund_*``), which
checks, locks and posts. Only the ways that apply to a record now are offered.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from linli.console.html import link as _link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin
from linli.estate.models import Unit
from linli.money import format_fen
from linli.payments.auto_refunds import (
    order_refund_retry,
    order_refund_settle_at_counter,
    order_refund_settle_to_prepaid,
)
from linli.payments.models import Channel, OrderRefund, PaymentAnomaly
from linli.payments.permissions import RESOLVE_PERMISSION
from linli.payments.resolutions import anomaly_resolve, resolutions_for

R = PaymentAnomaly.Resolution
COUNTER_CHOICES = [(Channel.CASH, Channel.CASH.label), (Channel.TRANSFER, Channel.TRANSFER.label)]


def _dialog(title, form_class, submit):
    return {"title": title, "description": "", "form_class": form_class,
            "form_submit_text": submit}


def _in_scope(request, model, object_id):
    """The record a dialog is about, if the user may see it on its page; else 404."""
    try:
        return admin.site._registry[model].get_queryset(request).get(pk=object_id)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404("not found") from None


def _run(request, form, dialog_action, fn, done: str, url: str) -> HttpResponse:
    """Call the service; show its refusal in the dialog, or go back to the page."""
    try:
        fn()
    except ValidationError as exc:
        form.add_error(None, "; ".join(exc.messages))
        return render(request, "unfold/helpers/dialog.html", {
            "dialog": dialog_action.dialog, "form": form,
            "form_submit_text": dialog_action.dialog["form_submit_text"]})
    messages.success(request, done)
    if request.headers.get("HX-Request"):
        response = HttpResponse()
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _reason_field():
    return forms.CharField(label=_("reason"), max_length=255,
                           widget=UnfoldAdminTextInputWidget)


# --- payment anomalies -------------------------------------------------------------------


class AnomalyForm(BaseDialogForm):
    reason = _reason_field()

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.anomaly = _in_scope(request, PaymentAnomaly, object_id)


class AnomalyUnitForm(AnomalyForm):
    unit = forms.ModelChoiceField(label=_("unit"), queryset=Unit.objects.none(),
                                  widget=UnfoldAdminSelectWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.fields["unit"].queryset = Unit.objects.filter(
            community_id=self.anomaly.community_id).select_related("building").order_by(
            "building__name", "entrance", "floor", "room_no")
        self.fields["unit"].initial = self.anomaly.resolution_unit_id


class AnomalyCounterForm(AnomalyForm):
    channel = forms.ChoiceField(label=_("paid back by"), choices=COUNTER_CHOICES,
                                widget=UnfoldAdminSelectWidget)


@admin.register(PaymentAnomaly)
class PaymentAnomalyAdmin(ReadOnlyAdmin):
    list_display = ["id", "flagged", "community", "kind", "status", "channel", "transaction_id",
                    "amount", "held", "detail", "resolved_by"]
    list_filter = ["community", "order__unit__building", ("status", ChoicesDropdownFilter),
                   ("kind", ChoicesDropdownFilter)]
    search_fields = ["transaction_id", "detail", "order__out_trade_no", "out_trade_no"]
    list_select_related = ["community", "resolved_by"]
    fields = ["community", "kind", "status", "channel", "transaction_id", "out_trade_no",
              "amount", "held", "excess", "detail", "order_link", "payment_link", "flagged",
              "ways", "write_off_requested_by", "write_off_requested_at", "write_off_reason",
              "resolution", "resolution_unit", "resolution_payment_link", "resolved_by",
              "resolved_at", "resolution_note", "refund_table", "outside_table"]
    readonly_fields = fields
    actions = ["export_xlsx"]
    actions_detail = ["apply_bills", "to_prepaid", "refund", "write_off", "keep",
                      "recover_prepaid", "recovered_counter"]

    def _may(self, request, object_id, resolution) -> bool:
        if not object_id or not request.user.has_perm(RESOLVE_PERMISSION):
            return False
        anomaly = self.scoped_object(request, object_id)
        return anomaly is not None and resolution in resolutions_for(anomaly)

    def has_apply_bills_permission(self, request, object_id=None):
        return self._may(request, object_id, R.APPLY_TO_BILLS)

    def has_to_prepaid_permission(self, request, object_id=None):
        return self._may(request, object_id, R.TO_PREPAID)

    def has_refund_permission(self, request, object_id=None):
        return self._may(request, object_id, R.REFUND)

    def has_write_off_permission(self, request, object_id=None):
        return self._may(request, object_id, R.WRITE_OFF)

    def has_keep_permission(self, request, object_id=None):
        return self._may(request, object_id, R.KEEP)

    def has_recover_prepaid_permission(self, request, object_id=None):
        return self._may(request, object_id, R.RECOVER_PREPAID)

    def has_recovered_counter_permission(self, request, object_id=None):
        return self._may(request, object_id, R.RECOVERED_COUNTER)

    def _resolve(self, request, form, dialog_action, resolution, done, **extra):
        url = reverse("admin:payments_paymentanomaly_change", args=[form.anomaly.pk])
        return _run(request, form, dialog_action, lambda: anomaly_resolve(
            acting_user=request.user, anomaly=form.anomaly, resolution=resolution,
            reason=form.cleaned_data["reason"], **extra), done, url)

    @action(description=_("Apply to the unit's bills"), url_path="apply-bills",
            permissions=["apply_bills"],
            dialog=_dialog(_("Pay the unit's open bills with this money"), AnomalyUnitForm,
                           _("Apply the money")))
    def apply_bills(self, request, form, object_id):
        return self._resolve(request, form, self.apply_bills, R.APPLY_TO_BILLS,
                             gettext("Applied to the bills."), unit=form.cleaned_data["unit"])

    @action(description=_("Move to prepaid balance"), url_path="to-prepaid",
            permissions=["to_prepaid"],
            dialog=_dialog(_("Move this money to the unit's prepaid balance"),
                           AnomalyUnitForm, _("Move")))
    def to_prepaid(self, request, form, object_id):
        return self._resolve(request, form, self.to_prepaid, R.TO_PREPAID,
                             gettext("Moved to the prepaid balance."),
                             unit=form.cleaned_data["unit"])

    @action(description=_("Refund through the channel"), url_path="refund",
            permissions=["refund"],
            dialog=_dialog(_("Refund this money to the payer through the channel"),
                           AnomalyForm, _("Refund")))
    def refund(self, request, form, object_id):
        return self._resolve(request, form, self.refund, R.REFUND,
                             gettext("The refund is being sent."))

    @action(description=_("Write off (needs a second person)"), url_path="write-off",
            permissions=["write_off"],
            dialog=_dialog(_("Ask for, or approve, a write-off"), AnomalyForm, _("Submit")))
    def write_off(self, request, form, object_id):
        return self._resolve(request, form, self.write_off, R.WRITE_OFF,
                             gettext("Write-off recorded."))

    @action(description=_("Keep as prepaid balance"), url_path="keep",
            permissions=["keep"],
            dialog=_dialog(_("Keep the money where it is"), AnomalyForm, _("Keep")))
    def keep(self, request, form, object_id):
        return self._resolve(request, form, self.keep, R.KEEP, gettext("Resolved."))

    @action(description=_("Recover from prepaid balance"), url_path="recover-prepaid",
            permissions=["recover_prepaid"],
            dialog=_dialog(_("Take the money owed from the unit's prepaid balance"),
                           AnomalyUnitForm, _("Recover")))
    def recover_prepaid(self, request, form, object_id):
        return self._resolve(request, form, self.recover_prepaid, R.RECOVER_PREPAID,
                             gettext("Recovered."), unit=form.cleaned_data["unit"])

    @action(description=_("Paid back at the counter"), url_path="recovered-counter",
            permissions=["recovered_counter"],
            dialog=_dialog(_("The payer paid the money back"), AnomalyCounterForm,
                           _("Record")))
    def recovered_counter(self, request, form, object_id):
        return self._resolve(request, form, self.recovered_counter, R.RECOVERED_COUNTER,
                             gettext("Recorded."), channel=form.cleaned_data["channel"])

    @admin.display(description=_("flagged"), ordering="created_at")
    def flagged(self, obj):
        return _when(obj.created_at)

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("held in suspense"))
    def held(self, obj):
        if not obj.is_open or not obj.suspense_fen:
            return "—"
        if obj.suspense_fen < 0:
            return gettext("%(amount)s owed back") % {"amount": format_fen(-obj.suspense_fen)}
        return format_fen(obj.suspense_fen)

    @admin.display(description=_("kept as prepaid balance"))
    def excess(self, obj):
        return format_fen(obj.excess_fen) if obj.excess_fen else "—"

    @admin.display(description=_("ways to resolve"))
    def ways(self, obj):
        return "、".join(str(R(w).label) for w in resolutions_for(obj)) or "—"

    @admin.display(description=_("payment order"))
    def order_link(self, obj):
        if not obj.order_id:
            return "—"
        return _link(reverse("admin:payments_paymentorder_change", args=[obj.order_id]),
                     obj.order.out_trade_no)

    @admin.display(description=_("payment"))
    def payment_link(self, obj):
        return _payment(obj.payment_id)

    @admin.display(description=_("payment made by the resolution"))
    def resolution_payment_link(self, obj):
        return _payment(obj.resolution_payment_id)

    @admin.display(description=_("refunds"))
    def refund_table(self, obj):
        rows = [(_link(reverse("admin:payments_orderrefund_change", args=[r.pk]),
                       r.out_refund_no), format_fen(r.amount_fen), r.get_status_display(),
                 r.error) for r in obj.refunds.order_by("id")]
        return _table([gettext("refund number"), gettext("amount"), gettext("status"),
                       gettext("channel's reason")], rows)

    @admin.display(description=_("refunds outside Linli"))
    def outside_table(self, obj):
        rows = [(_when(r.observed_at), format_fen(r.amount_fen), format_fen(r.reported_fen))
                for r in obj.outside_refunds.order_by("id")]
        return _table([gettext("observed"), gettext("amount"),
                       gettext("refunded in all, as the channel reported")], rows)


def _payment(payment_id):
    if not payment_id:
        return "—"
    return _link(reverse("admin:payments_payment_change", args=[payment_id]), f"#{payment_id}")


# --- automatic refunds -----------------------------------------------------------------


class RefundForm(BaseDialogForm):
    reason = _reason_field()

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.refund = _in_scope(request, OrderRefund, object_id)


class RefundCounterForm(RefundForm):
    channel = forms.ChoiceField(label=_("paid back by"), choices=COUNTER_CHOICES,
                                widget=UnfoldAdminSelectWidget)


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", _("Failed at the channel — needs staff"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=OrderRefund.Status.FAILED)
        return queryset


@admin.register(OrderRefund)
class OrderRefundAdmin(ReadOnlyAdmin):
    list_display = ["out_refund_no", "created_at", "community", "out_trade_no", "amount",
                    "status", "error", "settled_by"]
    list_filter = [NeedsAttentionFilter, "community", "order__unit__building",
                   ("status", ChoicesDropdownFilter)]
    search_fields = ["out_refund_no", "out_trade_no", "order__out_trade_no"]
    list_select_related = ["community"]
    fields = ["out_refund_no", "community", "channel", "out_trade_no", "order", "payment",
              "anomaly", "unit", "amount", "status", "error", "refund_id", "created_at",
              "finished_at", "settled_by", "settled_by_user", "settle_note", "late_success_at"]
    readonly_fields = fields
    actions_detail = ["retry", "settle_prepaid", "settle_counter"]

    def has_settle_permission(self, request, object_id=None):
        if not object_id or not request.user.has_perm(RESOLVE_PERMISSION):
            return False
        refund = self.scoped_object(request, object_id)
        return refund is not None and refund.status == OrderRefund.Status.FAILED

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    def _settle(self, request, form, dialog_action, fn, done):
        url = reverse("admin:payments_orderrefund_change", args=[form.refund.pk])
        return _run(request, form, dialog_action, fn, done, url)

    @action(description=_("Retry with the same refund number"), url_path="retry",
            permissions=["settle"],
            dialog=_dialog(_("Send the refund again"), RefundForm, _("Retry")))
    def retry(self, request, form, object_id):
        return self._settle(request, form, self.retry, lambda: order_refund_retry(
            acting_user=request.user, refund=form.refund, reason=form.cleaned_data["reason"]),
            gettext("Sent again."))

    @action(description=_("Put back into the prepaid balance"), url_path="settle-prepaid",
            permissions=["settle"],
            dialog=_dialog(_("Put the money back into the unit's prepaid balance"),
                           RefundForm, _("Put back")))
    def settle_prepaid(self, request, form, object_id):
        return self._settle(request, form, self.settle_prepaid,
                            lambda: order_refund_settle_to_prepaid(
                                acting_user=request.user, refund=form.refund,
                                reason=form.cleaned_data["reason"]),
                            gettext("Put back into the prepaid balance."))

    @action(description=_("Paid at the counter"), url_path="settle-counter",
            permissions=["settle"],
            dialog=_dialog(_("Record the refund paid in cash or by transfer"),
                           RefundCounterForm, _("Record")))
    def settle_counter(self, request, form, object_id):
        return self._settle(request, form, self.settle_counter,
                            lambda: order_refund_settle_at_counter(
                                acting_user=request.user, refund=form.refund,
                                channel=form.cleaned_data["channel"],
                                reason=form.cleaned_data["reason"]),
                            gettext("Refund recorded."))
