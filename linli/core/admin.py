from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from linli.console.scoping import ScopedAdmin
from linli.core.models import AuditEvent
from linli.staff.scope import community_ids_for


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedAdmin):
    """Read-only. Staff see events of their communities and their own actions."""

    list_display = ["at", "actor", "action", "content_type", "object_repr", "community", "summary"]
    list_filter = ["action", "community", "content_type"]
    search_fields = ["object_repr", "summary", "actor__username", "object_id"]
    list_select_related = ["actor", "community", "content_type"]
    readonly_fields = [
        "at", "actor", "action", "content_type", "object_id", "object_repr", "community",
        "summary", "changes_table", "ip",
    ]
    exclude = ["changes"]
    actions = ["export_xlsx"]

    def get_queryset(self, request):
        qs = super(ScopedAdmin, self).get_queryset(request)
        user = request.user
        if user.is_superuser:
            return qs
        from django.db.models import Q

        return qs.filter(Q(community_id__in=community_ids_for(user)) | Q(actor=user))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("changes"))
    def changes_table(self, obj: AuditEvent):
        if not obj.changes:
            return "—"
        rows = "".join(
            format_html(
                "<tr><td class='pr-4 font-medium'>{}</td><td class='pr-4'>{}</td><td>{}</td></tr>",
                field,
                json.dumps(values[0], ensure_ascii=False) if isinstance(values, list) else "",
                json.dumps(values[1], ensure_ascii=False) if isinstance(values, list) else values,
            )
            for field, values in obj.changes.items()
        )
        return format_html("<table>{}</table>", format_html(rows))
