"""Console page of refunds paid twice (重复退款): each one flagged, with the resolutions
its state allows — recovered at the counter, taken from the prepaid balance, or a
write-off asked by one person and approved by another — all through
``refunds.duplicates``."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
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
from linli.console.html import statement_link
from linli.console.scoping import ReadOnlyAdmin
from linli.money import format_fen
from linli.payments.models import Channel
from linli.refunds.duplicates import (
    PERMISSION,
    duplicate_approve_write_off,
    duplicate_ask_write_off,
    duplicate_from_prepaid,
    duplicate_recover,
    write_off_refusal,
)
from linli.refunds.models import DuplicateRefund

D = DuplicateRefund.Status


class _DuplicateForm(BaseDialogForm):
    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.duplicate = _in_scope(request, DuplicateRefund, object_id)


class RecoverForm(_DuplicateForm):
    channel = forms.ChoiceField(
        label=_("paid back by"), widget=UnfoldAdminSelectWidget,
        choices=[(Channel.CASH, Channel.CASH.label), (Channel.TRANSFER, Channel.TRANSFER.label)])
    reference = forms.CharField(label=_("reference"), required=False, max_length=64,
                                widget=UnfoldAdminTextInputWidget)


class ConfirmForm(_DuplicateForm):
    pass


class WriteOffForm(_DuplicateForm):
    reason = forms.CharField(label=_("why"), max_length=200, widget=UnfoldAdminTextInputWidget)


@admin.register(DuplicateRefund)
class DuplicateRefundAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["created_at", "community", "unit", "amount", "status", "payout",
                    "statement"]
    list_filter = [("status", ChoicesDropdownFilter), "community", "unit__building"]
    search_fields = ["payout__out_refund_no", "unit__room_no"]
    list_select_related = ["community", "unit__building", "payout"]
    exclude = ["amount_fen"]
    readonly_fields = ["amount", "statement"]
    actions_detail = ["recover", "from_prepaid", "ask_write_off", "approve_write_off"]

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)

    def _state(self, request, object_id, *statuses) -> DuplicateRefund | None:
        if not request.user.has_perm(PERMISSION):
            return None
        if object_id is None:
            return DuplicateRefund()  # the action's own view: the service decides
        found = self.scoped_object(request, object_id)
        return found if found is not None and found.status in statuses else None

    def has_resolve_permission(self, request, object_id=None):
        return self._state(request, object_id, *DuplicateRefund.OPEN_STATUSES) is not None

    def has_ask_permission(self, request, object_id=None):
        return self._state(request, object_id, D.OPEN) is not None

    def has_approve_permission(self, request, object_id=None):
        found = self._state(request, object_id, D.WRITE_OFF_ASKED)
        return found is not None and (object_id is None
                                      or not write_off_refusal(request.user, found))

    def _run(self, request, form, dialog_action, fn, done: str):
        try:
            fn()
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
            return _dialog_again(request, form, dialog_action)
        messages.success(request, done)
        return _back_to(request, reverse("admin:refunds_duplicaterefund_change",
                                         args=[form.duplicate.pk]))

    @action(description=_("Paid back at the counter"), url_path="recover",
            permissions=["resolve"],
            dialog=_dialog(_("The owner paid the money back"), RecoverForm, _("Record")))
    def recover(self, request, form, object_id):
        return self._run(request, form, self.recover, lambda: duplicate_recover(
            acting_user=request.user, duplicate=form.duplicate,
            channel=form.cleaned_data["channel"], reference=form.cleaned_data["reference"]),
            gettext("Recorded."))

    @action(description=_("Take from the prepaid balance"), url_path="from-prepaid",
            permissions=["resolve"],
            dialog=_dialog(_("Take the amount from the unit's prepaid balance"), ConfirmForm,
                           _("Take it")))
    def from_prepaid(self, request, form, object_id):
        return self._run(request, form, self.from_prepaid, lambda: duplicate_from_prepaid(
            acting_user=request.user, duplicate=form.duplicate), gettext("Taken."))

    @action(description=_("Ask for a write-off"), url_path="ask-write-off",
            permissions=["ask"],
            dialog=_dialog(_("Ask for this amount to be written off"), WriteOffForm,
                           _("Ask")))
    def ask_write_off(self, request, form, object_id):
        return self._run(request, form, self.ask_write_off, lambda: duplicate_ask_write_off(
            acting_user=request.user, duplicate=form.duplicate,
            reason=form.cleaned_data["reason"]), gettext("Write-off asked for."))

    @action(description=_("Approve the write-off"), url_path="approve-write-off",
            permissions=["approve"],
            dialog=_dialog(_("Approve the write-off"), ConfirmForm, _("Approve")))
    def approve_write_off(self, request, form, object_id):
        return self._run(request, form, self.approve_write_off,
                         lambda: duplicate_approve_write_off(acting_user=request.user,
                                                             duplicate=form.duplicate),
                         gettext("Written off."))
