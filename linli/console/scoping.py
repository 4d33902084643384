"""The base of every console page: scoped to the staff member's communities, audited.

A staff member sees and changes only rows of their communities, in lists, searches,
filters, autocompletes, exports and detail pages; an id outside their scope answers
404 (never "exists but forbidden"). Every add, change and delete is written to the
audit log with the fields that changed.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import RelatedFieldListFilter
from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter

from linli.core.audit import audit_record, diff, snapshot
from linli.core.models import AuditEvent
from linli.staff.scope import scope_queryset


def community_path_for(model: type[models.Model]) -> str | None:
    model_admin = admin.site._registry.get(model)
    return getattr(model_admin, "community_path", None)


def scope_for(model: type[models.Model], qs: models.QuerySet, user) -> models.QuerySet:
    """Scope any queryset of a console model by the path its admin declares."""
    path = community_path_for(model)
    if path is None:
        return qs if user.is_superuser else qs.none()
    return scope_queryset(qs, user, path)


class ScopedRelatedFilter(RelatedDropdownFilter):
    """A related-object filter that offers only objects in the user's scope."""

    def field_choices(self, field, request, model_admin):
        related = field.related_model
        qs = scope_for(related, related._default_manager.all(), request.user)
        return [(obj.pk, str(obj)) for obj in qs]


class ScopedAdmin(ModelAdmin):
    """Console page for a model reached through ``community_path``."""

    community_path: str = "community"
    # Foreign keys whose choices must be cut to the user's scope (all of them, by default).
    list_filter_submit = True
    list_per_page = 50
    actions = ["export_xlsx"]

    # --- scope -----------------------------------------------------------------
    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user, self.community_path)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("not found")
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if community_path_for(related) is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scope_for(related, related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        related = db_field.related_model
        if community_path_for(related) is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scope_for(related, related._default_manager.all(), request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and self._is_relation(item):
                item = (item, ScopedRelatedFilter)
            filters.append(item)
        return filters

    def _is_relation(self, name: str) -> bool:
        model = self.model
        field = None
        for part in name.split("__"):
            field = model._meta.get_field(part)
            model = field.related_model
        return bool(field and field.is_relation)

    # --- audit -------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)
        request._linli_audit_before = before

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(request, "_linli_audit_before", {})
        changes = diff(before, snapshot(obj))
        if change and not changes:
            return
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.CHANGE if change else AuditEvent.Action.CREATE,
            obj=obj,
            changes=changes,
            ip=request.META.get("REMOTE_ADDR"),
        )

    def delete_model(self, request, obj):
        self._audit_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._audit_delete(request, obj)
        super().delete_queryset(request, queryset)

    def _audit_delete(self, request, obj):
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.DELETE,
            obj=obj,
            changes=diff(snapshot(obj), {}),
            ip=request.META.get("REMOTE_ADDR"),
        )

    # Django's own LogEntry would duplicate our audit log (and is not scoped).
    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None

    def log_deletions(self, request, queryset):
        return None

    # --- export ------------------------------------------------------------------
    @admin.action(description=_("Export selected to Excel"))
    def export_xlsx(self, request, queryset):
        from linli.console.exports import queryset_to_xlsx_response

        return queryset_to_xlsx_response(self, request, queryset)


__all__ = ["ScopedAdmin", "ScopedRelatedFilter", "RelatedFieldListFilter", "scope_for"]
