"""Console page of bill adjustments: the list of waivers, discounts and cancellations, and
the approval of those awaiting it (one by one from its page, or several from the list)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextInputWidget

from linli.billing.admin.forms import _in_scope
from linli.billing.models import BillAdjustment
from linli.billing.services.adjustments import APPROVE_PERMISSION, bill_adjustment_decide
from linli.console.dialogs import back_to, dialog, dialog_again
from linli.console.scoping import ReadOnlyAdmin
from linli.money import format_fen


class DecisionForm(BaseDialogForm):
    note = forms.CharField(label=_("note"), required=False, max_length=200,
                           widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.adjustment = _in_scope(request, BillAdjustment, object_id)


@admin.register(BillAdjustment)
class BillAdjustmentAdmin(ReadOnlyAdmin):
    unit_path = "bill__unit"
    community_path = "bill__community"
    list_display = ["id", "bill", "kind", "amount", "reason", "status", "requested_by",
                    "approved_by", "created_at", "decided_at"]
    list_filter = [("status", ChoicesDropdownFilter), ("kind", ChoicesDropdownFilter),
                   "bill__community"]
    search_fields = ["reason", "bill__unit__room_no", "bill__unit__building__name"]
    list_select_related = ["bill__unit__building", "bill__fee_item", "bill__parking_space",
                           "requested_by", "approved_by"]
    actions = ["export_xlsx", "approve_selected", "reject_selected"]
    actions_detail = ["approve", "reject"]
    exclude = ["amount_fen"]
    readonly_fields = ["amount"]

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm(APPROVE_PERMISSION)

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    def _decide(self, request, adjustment, approve: bool, note: str = "") -> str | None:
        """Decide one adjustment; the refusal message, if refused."""
        try:
            bill_adjustment_decide(acting_user=request.user, adjustment=adjustment,
                                   approve=approve, note=note)
        except (PermissionDenied, ValidationError) as exc:
            return "; ".join(getattr(exc, "messages", None) or [str(exc)])
        return None

    def _decide_dialog(self, request, form, approve: bool, dialog_action):
        refused = self._decide(request, form.adjustment, approve, form.cleaned_data["note"])
        if refused:
            form.add_error("note", refused)
            return dialog_again(request, form, dialog_action)
        messages.success(request, gettext("Approved.") if approve else gettext("Rejected."))
        return back_to(request, reverse("admin:billing_billadjustment_change",
                                         args=[form.adjustment.pk]))

    @action(description=_("Approve"), url_path="approve", permissions=["approve"],
            dialog=dialog(_("Approve this adjustment"), DecisionForm, _("Approve")))
    def approve(self, request, form, object_id):
        return self._decide_dialog(request, form, True, self.approve)

    @action(description=_("Reject"), url_path="reject", permissions=["approve"],
            dialog=dialog(_("Reject this adjustment"), DecisionForm, _("Reject")))
    def reject(self, request, form, object_id):
        return self._decide_dialog(request, form, False, self.reject)

    def _decide_many(self, request, queryset, approve: bool):
        done = 0
        for adjustment in queryset.filter(status=BillAdjustment.Status.PENDING):
            refused = self._decide(request, adjustment, approve)
            if refused:
                messages.error(request, f"#{adjustment.pk}: {refused}")
            else:
                done += 1
        messages.info(request, gettext("%(n)s adjustments decided.") % {"n": done})

    @admin.action(description=_("Approve selected adjustments"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._decide_many(request, queryset, True)

    @admin.action(description=_("Reject selected adjustments"), permissions=["approve"])
    def reject_selected(self, request, queryset):
        self._decide_many(request, queryset, False)
