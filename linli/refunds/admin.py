"""Console pages of refunds: policies (editable), the review queue of applications
(approve, reject, retry, pay out at the counter, cancel — each through the refund
services, and each offered only where the application's state and the viewer allow it,
``actions.allowed``), refunds paid twice (recover, take from prepaid, ask for and
approve a write-off), payouts and vouchers (read-only, always)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from linli.billing.admin import _in_scope
from linli.console.dialogs import back_to as _back_to
from linli.console.dialogs import dialog as _dialog
from linli.console.dialogs import dialog_again as _dialog_again
from linli.console.html import link as _link
from linli.console.html import statement_link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin, ScopedAdmin
from linli.money import format_fen
from linli.payments.models import Channel, Payment
from linli.refunds.actions import allowed
from linli.refunds.models import (
    RefundApplication,
    RefundPayout,
    RefundPolicy,
    RefundVoucher,
)
from linli.refunds.payouts import refund_cancel, refund_record_counter, refund_retry
from linli.refunds.services import refund_approve, refund_reject
from linli.staff.scope import scope_queryset

CHANGE_PERMISSION = "refunds.change_refundapplication"


@admin.register(RefundPolicy)
class RefundPolicyAdmin(ScopedAdmin):
    list_display = ["community", "fee_item", "refundable", "window_days", "future_periods",
                    "prorata", "approval", "approver_role", "second_approval_above_fen",
                    "finance_approval_above_fen"]
    list_filter = ["community"]
    search_fields = ["fee_item__name", "community__name"]
    list_select_related = ["community", "fee_item"]

    def has_delete_permission(self, request, obj=None):
        return False


class AmountFilter(admin.SimpleListFilter):
    title = _("amount")
    parameter_name = "amount"

    def lookups(self, request, model_admin):
        return [("small", _("up to ¥100")), ("medium", _("¥100 to ¥1,000")),
                ("large", _("over ¥1,000"))]

    def queryset(self, request, queryset):
        ranges = {"small": (0, 10000), "medium": (10000, 100000), "large": (100000, None)}
        if self.value() not in ranges:
            return queryset
        low, high = ranges[self.value()]
        queryset = queryset.filter(amount_fen__gt=low)
        return queryset.filter(amount_fen__lte=high) if high else queryset


class AgeFilter(admin.SimpleListFilter):
    title = _("waiting")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("1", _("over a day")), ("3", _("over 3 days")), ("7", _("over a week"))]

    def queryset(self, request, queryset):
        if self.value() not in ("1", "3", "7"):
            return queryset
        return queryset.filter(created_at__lte=timezone.now() - dt.timedelta(
            days=int(self.value())))


class ReasonForm(BaseDialogForm):
    reason = forms.CharField(label=_("why"), max_length=200,
                             widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.application = _in_scope(request, RefundApplication, object_id)


class NoteForm(BaseDialogForm):
    note = forms.CharField(label=_("note to the owner"), required=False, max_length=200,
                           widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.application = _in_scope(request, RefundApplication, object_id)


class RetryForm(NoteForm):
    note = forms.CharField(label=_("note (kept in the refund's history)"), required=False,
                           max_length=200, widget=UnfoldAdminTextInputWidget)


class CounterForm(BaseDialogForm):
    channel = forms.ChoiceField(
        label=_("paid back by"), widget=UnfoldAdminSelectWidget,
        choices=[(Channel.CASH, Channel.CASH.label), (Channel.TRANSFER, Channel.TRANSFER.label)])
    reference = forms.CharField(label=_("reference"), required=False, max_length=64,
                                widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.application = _in_scope(request, RefundApplication, object_id)


class ApplyForOwnerForm(BaseDialogForm):
    payment = forms.CharField(label=_("receipt number or payment id"), max_length=24,
                              widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.request = request

    def clean_payment(self):
        text = self.cleaned_data["payment"].strip()
        payments = scope_queryset(Payment.objects.all(), self.request.user, "community")
        found = payments.filter(receipt__number=text).order_by("-id").first()
        if found is None and text.isdigit():
            found = payments.filter(pk=int(text)).first()
        if found is None:
            raise ValidationError(_("No such payment in your communities."))
        return found


@admin.register(RefundApplication)
class RefundApplicationAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["id", "created_at", "unit", "amount", "kind", "status", "requested_by",
                    "statement"]
    list_display_links = ["id", "created_at"]
    list_filter = [("status", ChoicesDropdownFilter), "community", "unit__building",
                   AmountFilter, AgeFilter]
    search_fields = ["unit__room_no", "unit__building__name", "reason"]
    list_select_related = ["community", "unit__building", "requested_by"]
    fields = ["community", "unit", "statement", "payment", "kind", "amount", "reason",
              "status", "attention_reason", "needs_finance", "requested_by", "by_staff", "created_at",
              "first_approver", "first_approved_at", "second_approver", "second_approved_at",
              "decided_by", "decided_at", "decision_note", "cancelled_by", "cancelled_at",
              "line_table", "payout_table"]
    readonly_fields = ["amount", "statement", "line_table", "payout_table"]
    actions_detail = ["approve", "reject", "retry", "pay_at_counter", "cancel"]
    actions_list = ["apply_for_owner"]

    def has_apply_permission(self, request, obj=None):
        return request.user.has_perm("refunds.add_refundapplication")

    @action(description=_("Apply for an owner"), url_path="apply-for-owner",
            permissions=["apply"],
            dialog=_dialog(_("Which payment is to be refunded?"), ApplyForOwnerForm,
                           _("Continue")))
    def apply_for_owner(self, request, form):
        return _back_to(request, reverse("refunds:apply",
                                         args=[form.cleaned_data["payment"].pk]))

    def _allows(self, request, object_id, name: str) -> bool:
        if not request.user.has_perm(CHANGE_PERMISSION):
            return False
        if object_id is None:
            return True  # the action's own view: the service decides (and says why not)
        application = self.scoped_object(request, object_id)
        return application is not None and name in allowed(request.user, application)

    def has_approve_permission(self, request, object_id=None):
        return self._allows(request, object_id, "approve")

    def has_reject_permission(self, request, object_id=None):
        return self._allows(request, object_id, "reject")

    def has_retry_permission(self, request, object_id=None):
        return self._allows(request, object_id, "retry")

    def has_counter_permission(self, request, object_id=None):
        return self._allows(request, object_id, "pay_at_counter")

    def has_cancel_permission(self, request, object_id=None):
        return self._allows(request, object_id, "cancel")

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)

    @admin.display(description=_("refund lines"))
    def line_table(self, obj):
        rows = [(str(line.bill or ""), line.get_basis_display(), format_fen(line.amount_fen))
                for line in obj.lines.select_related("bill__fee_item", "bill__unit")]
        return _table([gettext("bill"), gettext("basis"), gettext("amount")], rows)

    @admin.display(description=_("payouts"))
    def payout_table(self, obj):
        rows = []
        for payout in obj.payouts.order_by("id"):
            voucher = getattr(payout, "voucher", None)
            rows.append((payout.out_refund_no, payout.get_channel_display(),
                         format_fen(payout.amount_fen), payout.get_status_display(),
                         payout.error, _when(payout.finished_at),
                         _link(reverse("refunds:voucher-pdf", args=[voucher.pk]),
                               voucher.number) if voucher else ""))
        return _table([gettext("refund number"), gettext("paid back by"), gettext("amount"), gettext("status"),
                       gettext("gateway's reason"), gettext("finished"), gettext("voucher")], rows)

    def _run(self, request, form, dialog_action, fn, done: str):
        try:
            fn()
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
            return _dialog_again(request, form, dialog_action)
        messages.success(request, done)
        return _back_to(request, reverse("admin:refunds_refundapplication_change",
                                         args=[form.application.pk]))

    @action(description=_("Approve"), url_path="approve", permissions=["approve"],
            dialog=_dialog(_("Approve this refund"), NoteForm, _("Approve")))
    def approve(self, request, form, object_id):
        return self._run(request, form, self.approve, lambda: refund_approve(
            acting_user=request.user, application=form.application,
            note=form.cleaned_data["note"]), gettext("Approved."))

    @action(description=_("Reject"), url_path="reject", permissions=["reject"],
            dialog=_dialog(_("Reject this refund"), NoteForm, _("Reject")))
    def reject(self, request, form, object_id):
        return self._run(request, form, self.reject, lambda: refund_reject(
            acting_user=request.user, application=form.application,
            note=form.cleaned_data["note"]), gettext("Rejected."))

    @action(description=_("Retry the refund"), url_path="retry", permissions=["retry"],
            dialog=_dialog(_("Send the refund again"), RetryForm, _("Retry")))
    def retry(self, request, form, object_id):
        return self._run(request, form, self.retry, lambda: refund_retry(
            acting_user=request.user, application=form.application,
            note=form.cleaned_data["note"]), gettext("Sent again."))

    @action(description=_("Paid out at the counter"), url_path="counter",
            permissions=["counter"],
            dialog=_dialog(_("Record a refund paid in cash or by transfer"), CounterForm,
                           _("Record")))
    def pay_at_counter(self, request, form, object_id):
        return self._run(request, form, self.pay_at_counter, lambda: refund_record_counter(
            acting_user=request.user, application=form.application,
            channel=form.cleaned_data["channel"], reference=form.cleaned_data["reference"]),
            gettext("Refund recorded."))

    @action(description=_("Cancel the refund"), url_path="cancel", permissions=["cancel"],
            dialog=_dialog(_("Cancel this refund: the amount set aside is released"),
                           ReasonForm, _("Cancel the refund")))
    def cancel(self, request, form, object_id):
        return self._run(request, form, self.cancel, lambda: refund_cancel(
            acting_user=request.user, application=form.application,
            reason=form.cleaned_data["reason"]), gettext("Refund cancelled."))


@admin.register(RefundPayout)
class RefundPayoutAdmin(ReadOnlyAdmin):
    unit_path = "application__unit"
    list_display = ["out_refund_no", "created_at", "community", "channel", "amount", "status",
                    "error", "finished_at"]
    list_filter = [("status", ChoicesDropdownFilter), "community"]
    search_fields = ["out_refund_no", "refund_id", "application__unit__room_no"]
    list_select_related = ["community"]
    exclude = ["amount_fen"]
    readonly_fields = ["amount"]

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)


@admin.register(RefundVoucher)
class RefundVoucherAdmin(ReadOnlyAdmin):
    unit_path = "payout__application__unit"
    list_display = ["number", "issued_at", "community", "amount", "receipt", "pdf"]
    list_filter = ["community"]
    search_fields = ["number", "receipt__number", "payout__application__unit__room_no"]
    list_select_related = ["community", "receipt"]
    exclude = ["snapshot", "total_fen"]
    readonly_fields = ["amount", "pdf"]

    @admin.display(description=_("amount"), ordering="total_fen")
    def amount(self, obj):
        return format_fen(obj.total_fen)

    @admin.display(description=_("PDF"))
    def pdf(self, obj):
        return _link(reverse("refunds:voucher-pdf", args=[obj.pk]), "PDF")


# The page of refunds paid twice (registered on import).
from linli.refunds import admin_duplicates  # noqa: E402,F401
