from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import Q

from linli.console.scoping import ScopedAdmin
from linli.staff.models import StaffMember
from linli.staff.scope import company_id_for

admin.site.unregister(Group)
admin.site.unregister(User)


@admin.register(StaffMember)
class StaffMemberAdmin(ScopedAdmin):
    """Company admins manage their company's staff. Scoped by company, not community:
    a staff member with no community yet must still be visible to their admin."""

    list_display = ["display_name", "user", "role", "company", "communities_list"]
    search_fields = ["display_name", "user__username", "mobile"]
    list_filter = ["role", "communities"]
    filter_horizontal = ["communities"]
    autocomplete_fields = []
    readonly_fields = []

    def get_queryset(self, request):
        qs = super(ScopedAdmin, self).get_queryset(request).prefetch_related("communities")
        if request.user.is_superuser:
            return qs
        return qs.filter(Q(company_id=company_id_for(request.user)))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "company" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.filter(
                pk=company_id_for(request.user)
            )
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(
                Q(staff__company_id=company_id_for(request.user)) | Q(staff__isnull=True),
                is_superuser=False,
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="communities")
    def communities_list(self, obj: StaffMember) -> str:
        return "、".join(c.name for c in obj.communities.all())
