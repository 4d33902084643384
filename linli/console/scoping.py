"""The base of every console page: scoped to the staff member's communities, audited.

A staff member sees and changes only rows of their communities, in lists, searches,
filters, autocompletes, exports and detail pages; an id outside their scope answers
404 (never "exists but forbidden"). Every add, change and delete is written to the
audit log with the fields that changed, inline rows and many-to-many links included.

Scope lives in one method, ``ScopedAdmin.scope``: the list, the detail pages, the
autocomplete endpoint (which asks the target model's admin), the list filters and the
choices of every related field go through it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django.contrib import admin
from django.contrib.admin import RelatedFieldListFilter
from django.contrib.admin.utils import lookup_spawns_duplicates, unquote
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Concat
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline
from unfold.contrib.filters.admin import RelatedDropdownFilter

from linli.console.exports import queryset_to_xlsx_response
from linli.core import todos
from linli.core.audit import audit_record, diff, snapshot
from linli.core.crypto import mobile_index
from linli.core.http import client_ip
from linli.core.models import AuditEvent
from linli.core.validators import MOBILE_RE, normalise_mobile
from linli.estate.models import Company
from linli.staff.scope import community_ids_for, company_id_for, scope_queryset


def community_path_for(model: type[models.Model]) -> str | None:
    model_admin = admin.site._registry.get(model)
    return getattr(model_admin, "community_path", None)


def scope_for(model: type[models.Model], qs: models.QuerySet, user) -> models.QuerySet:
    """Scope any queryset by the rules of the model's console page.

    Models without a console page are invisible to staff, except the few that a
    form may legitimately point at: their own company, their colleagues' logins and
    content types (which hold no data).
    """
    if getattr(user, "is_superuser", False) and user.is_active:
        return qs
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, ScopedAdmin):
        return model_admin.scope(qs, user)
    if model is Company:
        return qs.filter(pk=company_id_for(user))
    if model is ContentType:
        return qs
    if model is get_user_model():
        company_id = company_id_for(user)
        if company_id is None:
            return qs.filter(pk=user.pk)
        return qs.filter(Q(staff__company_id=company_id) | Q(pk=user.pk))
    return qs.none()


def related_queryset(model_admin, related: type[models.Model], request) -> models.QuerySet:
    """In-scope objects of ``related`` for a choice list, joined for their ``str()``."""
    related_admin = model_admin.admin_site._registry.get(related)
    if isinstance(related_admin, ScopedAdmin):
        return related_admin.get_queryset(request)
    return scope_for(related, related._default_manager.all(), request.user)


def _scoped_choices(model_admin, db_field, request, kwargs: dict) -> None:
    """Cut the choices of a related form field to the user's scope (unless given)."""
    if "queryset" not in kwargs:
        kwargs["queryset"] = related_queryset(model_admin, db_field.related_model, request)
    if "widget" not in kwargs and db_field.name in model_admin.get_autocomplete_fields(request):
        widget = IdsOnlyAutocompleteMultiple if db_field.many_to_many else IdsOnlyAutocomplete
        kwargs["widget"] = widget(db_field, model_admin.admin_site, using=kwargs.get("using"))


class _IdsOnly:
    """Django's autocomplete widget looks the chosen values up to show their labels: a
    form sent back (or prefilled by a link) with a value that is no id ("abc", "1.5", out
    of range) failed with a server error. Such a value shows as nothing chosen, and the
    form's own validation says what is wrong."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        value = [v for v in value if v in ("", None) or _id_or_none(target, v) is not None]
        return super().optgroups(name, value, attr)


class IdsOnlyAutocomplete(_IdsOnly, AutocompleteSelect):
    pass


class IdsOnlyAutocompleteMultiple(_IdsOnly, AutocompleteSelectMultiple):
    pass


class ScopedChoicesMixin:
    """For a related-object list filter: offer only objects in the user's scope."""

    def field_choices(self, field, request, model_admin):
        qs = related_queryset(model_admin, field.related_model, request)
        return [(obj.pk, str(obj)) for obj in qs]


class ScopedRelatedFilter(ScopedChoicesMixin, RelatedDropdownFilter):
    """The console's related-object filter: a dropdown of in-scope objects."""


def _scoped_filter_class(cls: type) -> type:
    """A page may name its own related filter class; make sure it is scoped too."""
    if issubclass(cls, ScopedChoicesMixin) or not issubclass(cls, RelatedFieldListFilter):
        return cls
    return type(f"Scoped{cls.__name__}", (ScopedChoicesMixin, cls), {})


class TodoFilter(admin.SimpleListFilter):
    """"Waiting for me": the records of one of the page's to-dos (``linli.core.todos``)
    that wait for this user — the list the home page's to-do count links to."""

    title = _("to-do")
    parameter_name = "todo"

    def _todos(self, model_admin) -> list[todos.Todo]:
        return todos.for_model(model_admin.model._meta.label)

    def lookups(self, request, model_admin):
        return [(t.key, t.title) for t in self._todos(model_admin)
                if t.visible_to(request.user)]

    def queryset(self, request, queryset):
        chosen = next((t for t in self._todos(self.model_admin) if t.key == self.value()), None)
        if chosen is None or not chosen.visible_to(request.user):
            return queryset
        waiting = chosen.pending(request.user, community_ids_for(request.user))
        return queryset.filter(pk__in=waiting.values("pk"))

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)


# --- audit helpers ---------------------------------------------------------------


def audit_snapshot(obj: models.Model) -> dict[str, Any]:
    """What a person can edit on ``obj``: editable fields and many-to-many links.

    Derived columns (blind indexes, timestamps) are left out; secret fields (those
    declaring ``audit_secret``, such as anything encrypted at rest) appear only as a
    keyed digest, never in plain text (``linli.core.audit.snapshot``).
    """
    editable = [f.name for f in obj._meta.concrete_fields if f.editable and not f.primary_key]
    result = snapshot(obj, fields=editable)
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            result[field.name] = sorted(str(v) for v in getattr(obj, field.name).all())
    return result


def change_rows(changes) -> list[tuple[str, str, str]]:
    """An audit event's ``changes`` as (field, before, after) text, whatever its shape
    (``{field: [before, after]}`` from the console, or ``{field: value}``)."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, values in changes.items():
        if isinstance(values, list) and len(values) == 2:
            rows.append((field, _as_text(values[0]), _as_text(values[1])))
        else:
            rows.append((field, "", _as_text(values)))
    return rows


def _as_text(value) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _fresh(obj: models.Model) -> models.Model:
    """The row as stored (forms change the in-memory instance before saving)."""
    return type(obj)._default_manager.get(pk=obj.pk)


class _AuditTrail:
    """Snapshots taken during one save, so that events are written parent first."""

    def __init__(self) -> None:
        self.before: dict[tuple[str, Any], dict] = {}
        self.pending: list[dict] = []


def _trail(request) -> _AuditTrail:
    trail = getattr(request, "_linli_audit", None)
    if trail is None:
        trail = request._linli_audit = _AuditTrail()
    return trail


def _key(obj: models.Model) -> tuple[str, Any]:
    return (obj._meta.label, obj.pk)


# --- inlines ------------------------------------------------------------------------


class ScopedInlineMixin:
    """Related fields inside inline rows offer only in-scope objects too."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedTabularInline(ScopedInlineMixin, TabularInline):
    pass


class ScopedStackedInline(ScopedInlineMixin, StackedInline):
    pass


# --- the page -----------------------------------------------------------------------


def _id_or_none(field: models.Field, text: str):
    """``text`` as a value of the key ``field``, or None if it is none (not a number, or
    out of the database's range)."""
    try:
        value = field.to_python(text)
        field.run_validators(value)
    except ValidationError:
        return None
    return value


class ScopedAdmin(ModelAdmin):
    """Console page for a model reached through ``community_path``."""

    community_path: str = "community"
    # Where the page's unit is ("" for units themselves): a search also finds rows by the
    # unit's label as the console shows it, 1栋1单元101 (building, entrance and room).
    unit_path: str | None = None
    # Where an encrypted mobile number's blind index is ("mobile_index",
    # "person__mobile_index", ...): a search for a whole number finds rows through it.
    mobile_index_path: str | None = None
    list_filter_submit = True
    list_per_page = 50
    actions = ["export_xlsx"]
    object_history_template = "console/object_history.html"

    # --- scope -----------------------------------------------------------------
    def scope(self, qs: models.QuerySet, user) -> models.QuerySet:
        """Rows of this model that ``user`` may see. Override for other rules."""
        return scope_queryset(qs, user, self.community_path)

    def get_queryset(self, request):
        qs = self.scope(super().get_queryset(request), request.user)
        if isinstance(self.list_select_related, list | tuple) and self.list_select_related:
            # Also for detail pages, autocompletes and filters that print str(obj).
            qs = qs.select_related(*self.list_select_related)
        return qs

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        return [*fields, "unit_label"] if self.unit_path is not None else fields

    def get_search_results(self, request, queryset, search_term):
        """Each word of a search may also be part of the unit's label (an alias that only
        searches use), so 1栋1单元101, "1栋 101" and "1栋1单元101 水费" all find it.
        A whole mobile number is looked up by its blind index (the column is encrypted)."""
        mobile = normalise_mobile(search_term or "")
        if self.mobile_index_path and MOBILE_RE.match(mobile):
            return (queryset.filter(**{self.mobile_index_path: mobile_index(mobile)}),
                    lookup_spawns_duplicates(self.opts, self.mobile_index_path))
        if self.unit_path is None or not search_term:
            return super().get_search_results(request, queryset, search_term)
        prefix = f"{self.unit_path}__" if self.unit_path else ""
        queryset = queryset.alias(unit_label=Concat(
            f"{prefix}building__name", f"{prefix}entrance", f"{prefix}room_no",
            output_field=models.CharField(),
        ))
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if self.unit_path:
            may_have_duplicates |= lookup_spawns_duplicates(self.opts, self.unit_path)
        return found, may_have_duplicates

    def get_object(self, request, object_id, from_field=None):
        # An empty ``?_to_field=`` means none: Django's views would look up a field named "".
        obj = super().get_object(request, object_id, from_field or None)
        if obj is None:
            raise Http404("not found")
        return obj

    def scoped_object(self, request, object_id):
        """The row ``object_id`` (a URL's text) names among those the user may see; None
        when there is none, also when the text is no id at all ("abc", "1.5")."""
        pk = _id_or_none(self.model._meta.pk, unquote(str(object_id)))
        return None if pk is None else self.get_queryset(request).filter(pk=pk).first()

    def get_changeform_initial_data(self, request):
        """Values a link prefills on an add page (``?unit=12``). One that is no id of its
        related field is left out: the related widget would look it up and fail."""
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            target = getattr(field, "target_field", None) if field.is_relation else None
            if target is None:
                continue
            if any(_id_or_none(target, item) is None
                   for item in (value if isinstance(value, list) else [value])):
                del initial[name]
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        _scoped_choices(self, db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and self._is_relation(item):
                item = (item, ScopedRelatedFilter)
            elif isinstance(item, tuple | list) and isinstance(item[1], type):
                item = (item[0], _scoped_filter_class(item[1]))
            elif isinstance(item, type):
                item = _scoped_filter_class(item)
            filters.append(item)
        if todos.for_model(self.model._meta.label):
            filters.append(TodoFilter)
        return filters

    def _is_relation(self, name: str) -> bool:
        model = self.model
        field = None
        for part in name.split("__"):
            field = model._meta.get_field(part)
            model = field.related_model
        return bool(field and field.is_relation)

    # --- history: our audit log, not Django's LogEntry ---------------------------
    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        events = (
            AuditEvent.objects.filter(
                content_type=ContentType.objects.get_for_model(self.model),
                object_id=str(obj.pk),
            )
            .select_related("actor")
            .order_by("at", "id")[:500]
        )
        for event in events:
            event.change_rows = change_rows(event.changes)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Change history: %(object)s") % {"object": obj},
            "subtitle": None,
            "events": events,
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "object": obj,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)

    # --- audit -------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        if change:
            _trail(request).before[_key(obj)] = audit_snapshot(_fresh(obj))
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        """Inline rows are audited as objects of their own (created, changed, deleted)."""
        trail = _trail(request)
        deleted = [f.instance for f in formset.deleted_forms if f.instance.pk is not None]
        gone = [(copy.copy(obj), audit_snapshot(_fresh(obj))) for obj in deleted]
        deleted_pks = {obj.pk for obj in deleted}
        for inline_form in formset.initial_forms:
            obj = inline_form.instance
            if obj.pk is not None and obj.pk not in deleted_pks and inline_form.has_changed():
                trail.before[_key(obj)] = audit_snapshot(_fresh(obj))
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            trail.pending.append(
                {"action": AuditEvent.Action.CREATE, "obj": obj,
                 "changes": diff({}, audit_snapshot(_fresh(obj)))}
            )
        for obj, _fields in formset.changed_objects:
            changes = diff(trail.before.pop(_key(obj), {}), audit_snapshot(_fresh(obj)))
            if changes:
                trail.pending.append(
                    {"action": AuditEvent.Action.CHANGE, "obj": obj, "changes": changes}
                )
        for obj, before in gone:
            trail.pending.append(
                {"action": AuditEvent.Action.DELETE, "obj": obj, "changes": diff(before, {})}
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        trail = _trail(request)
        obj = form.instance
        before = trail.before.pop(_key(obj), {}) if change else {}
        changes = diff(before, audit_snapshot(_fresh(obj)))
        if changes or not change:
            audit_record(
                actor=request.user,
                action=AuditEvent.Action.CHANGE if change else AuditEvent.Action.CREATE,
                obj=obj,
                changes=changes,
                ip=client_ip(request),
            )
        for event in trail.pending:
            audit_record(actor=request.user, ip=client_ip(request), **event)
        trail.pending.clear()

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
            changes=diff(audit_snapshot(obj), {}),
            ip=client_ip(request),
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
        return queryset_to_xlsx_response(self, request, queryset)


__all__ = [
    "ScopedAdmin",
    "ScopedRelatedFilter",
    "ScopedStackedInline",
    "ScopedTabularInline",
    "audit_snapshot",
    "change_rows",
    "scope_for",
]


class ReadOnlyAdmin(ScopedAdmin):
    """A console page that shows records and never adds, edits or deletes them (financial
    records are changed only by new linked records, through their services)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
