"""Console page: home binding requests from owners, approved or rejected by staff of the
request's community (``linli.owners.bindings`` does the work and the audit).

Requests are never typed in or edited in the console: owners make them, staff decide
them with the two buttons on a request's page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanSwitchWidget,
)

from linli.console.dialogs import back_to, dialog, dialog_again
from linli.console.scoping import ReadOnlyAdmin, related_queryset
from linli.core.http import client_ip
from linli.estate.models import Occupancy, Unit
from linli.owners.bindings import (
    DECIDE_PERMISSION,
    binding_request_approve,
    binding_request_reject,
)
from linli.owners.models import BindingRequest


def _binding_in_scope(request, object_id) -> BindingRequest:
    try:
        return admin.site._registry[BindingRequest].get_queryset(request).get(pk=object_id)
    except (BindingRequest.DoesNotExist, ValueError, TypeError):
        raise Http404("not found") from None


class ApproveForm(BaseDialogForm):
    unit = forms.ModelChoiceField(label=_("unit"), queryset=Unit.objects.none(),
                                  widget=UnfoldAdminSelectWidget)
    is_payer = forms.BooleanField(label=_("pays the fees"), required=False,
                                  widget=UnfoldBooleanSwitchWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.binding = _binding_in_scope(request, object_id)
        model_admin = admin.site._registry[BindingRequest]
        units = related_queryset(model_admin, Unit, request).filter(
            community_id=self.binding.community_id).select_related("building")
        self.fields["unit"].queryset = units
        # The unit the typed address matched (only ever one); otherwise staff choose.
        suggested = self.binding.unit_id
        self.fields["unit"].initial = suggested
        # An owner who asks is usually the one who pays, unless someone already does.
        has_payer = suggested and Occupancy.objects.filter(
            unit_id=suggested, is_payer=True, end_date__isnull=True).exists()
        self.fields["is_payer"].initial = (
            self.binding.role == BindingRequest.Role.OWNER and not has_payer)


class RejectForm(BaseDialogForm):
    reason = forms.CharField(label=_("reason for rejecting"), max_length=200,
                             widget=UnfoldAdminTextInputWidget)

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.binding = _binding_in_scope(request, object_id)


@admin.register(BindingRequest)
class BindingRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "community", "building", "room", "name", "mobile_masked", "role",
                    "status", "unit", "created_at", "decided_by", "decided_at"]
    list_filter = [("status", ChoicesDropdownFilter), "community", "unit__building"]
    search_fields = ["name", "building", "room"]
    mobile_index_path = "mobile_index"
    list_select_related = ["community", "unit__building", "decided_by"]
    fields = ["community", "building", "room", "name", "mobile_masked", "role", "status",
              "unit", "occupancy", "created_at", "decided_by", "decided_at", "reject_reason"]
    readonly_fields = fields
    actions_detail = ["approve", "reject"]

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm(DECIDE_PERMISSION)

    @admin.display(description=_("mobile"))
    def mobile_masked(self, obj):
        return obj.mobile_masked

    def _done(self, request, binding, text):
        messages.success(request, text)
        return back_to(request, reverse("admin:owners_bindingrequest_change",
                                         args=[binding.pk]))

    @action(description=_("Approve"), url_path="approve", permissions=["decide"],
            icon="check",
            dialog=dialog(_("Link the owner to this unit"), ApproveForm, _("Approve")))
    def approve(self, request, form, object_id):
        try:
            binding = binding_request_approve(
                acting_user=request.user, binding=form.binding,
                unit=form.cleaned_data["unit"], is_payer=form.cleaned_data["is_payer"],
                ip=client_ip(request))
        except ValidationError as exc:
            form.add_error("unit", exc.messages)
            return dialog_again(request, form, self.approve)
        except PermissionDenied as exc:
            return dialog_again(request, form, self.approve, refusal=exc)
        return self._done(request, binding, gettext("Approved: the owner now sees this unit."))

    @action(description=_("Reject"), url_path="reject", permissions=["decide"], icon="close",
            dialog=dialog(_("Reject this request"), RejectForm, _("Reject")))
    def reject(self, request, form, object_id):
        try:
            binding = binding_request_reject(
                acting_user=request.user, binding=form.binding,
                reason=form.cleaned_data["reason"], ip=client_ip(request))
        except ValidationError as exc:
            form.add_error("reason", exc.messages)
            return dialog_again(request, form, self.reject)
        except PermissionDenied as exc:
            return dialog_again(request, form, self.reject, refusal=exc)
        return self._done(request, binding, gettext("Rejected; the owner sees your reason."))
