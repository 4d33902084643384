from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from linli.console.scoping import ScopedAdmin, ScopedTabularInline
from linli.ledger.models import JournalEntry, JournalLine, entry_kind_label


class EntryKindFilter(admin.SimpleListFilter):
    """Kinds in words, reversals included, only those that occur."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = model_admin.get_queryset(request).order_by("kind").values_list(
            "kind", flat=True).distinct()
        return [(kind, entry_kind_label(kind)) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class JournalLineInline(ScopedTabularInline):
    model = JournalLine
    fields = ["account", "side", "amount_fen", "unit", "fee_item_ref"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("unit__building")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ScopedAdmin):
    """Read-only: entries are posted by services, never typed in."""

    list_display = ["id", "effective_on", "kind_display", "business_key", "community",
                    "posted_at"]
    list_filter = ["community", EntryKindFilter]
    search_fields = ["business_key", "memo", "kind"]
    list_select_related = ["community"]
    readonly_fields = [
        "community", "business_key", "kind_display", "memo", "effective_on", "posted_at", "posted_by",
        "reverses", "digest",
    ]
    inlines = [JournalLineInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_display(self, obj):
        return obj.kind_label

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
