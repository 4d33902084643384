"""The audit log page (the core app's ``AuditEvent``): it lives with the console because
it is cut by staff scope, and core imports no domain app."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.contrib.filters.admin import RelatedDropdownFilter

from linli.console.scoping import ScopedAdmin, ScopedChoicesMixin, change_rows
from linli.core.models import AuditEvent
from linli.staff.models import Role
from linli.staff.scope import community_ids_for


class ConsoleModelFilter(ScopedChoicesMixin, RelatedDropdownFilter):
    """Object types of the console's own pages (content types hold no data, so this
    overrides the scoped choices)."""

    def field_choices(self, field, request, model_admin):
        models = [m for m in model_admin.admin_site._registry if m is not AuditEvent]
        types = ContentType.objects.get_for_models(*models)
        choices = [(ct.pk, str(model._meta.verbose_name)) for model, ct in types.items()]
        return sorted(choices, key=lambda choice: choice[1])


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    """Read-only. Staff see the events of their communities and their own actions; a
    company admin also sees what any of the company's staff did outside a community
    (for example managing staff)."""

    list_display = [
        "at", "actor", "action", "content_type", "object_repr", "changed_fields", "community",
        "summary",
    ]
    list_filter = ["action", "community", ("content_type", ConsoleModelFilter)]
    search_fields = ["object_repr", "summary", "actor__username", "actor__first_name", "object_id"]
    list_select_related = ["actor", "community", "content_type"]
    readonly_fields = [
        "at", "actor", "action", "content_type", "object_id", "object_repr", "community",
        "summary", "changes_table", "ip",
    ]
    exclude = ["changes"]
    actions = ["export_xlsx"]

    def scope(self, qs, user):
        if user.is_superuser and user.is_active:
            return qs
        visible = Q(community_id__in=community_ids_for(user)) | Q(actor_id=user.pk)
        staff = getattr(user, "staff", None)
        if staff is not None and staff.role == Role.COMPANY_ADMIN:
            visible |= Q(community__isnull=True, actor__staff__company_id=staff.company_id)
        return qs.filter(visible)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("changed fields"))
    def changed_fields(self, obj: AuditEvent) -> str:
        return ", ".join(obj.changes) if isinstance(obj.changes, dict) else ""

    @admin.display(description=_("changes"))
    def changes_table(self, obj: AuditEvent):
        if not obj.changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td class='pr-4 font-medium'>{}</td><td class='pr-4'>{}</td><td>{}</td></tr>",
            change_rows(obj.changes),
        )
        return format_html("<table>{}</table>", rows)


# django-otp registers pages of its own for the two-factor devices, unscoped and showing
# secrets; staff manage theirs on the two-factor page (console/twofactor.py) instead.
for _device in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device):
        admin.site.unregister(_device)
