"""Console pages of the estate. Every list is searchable and filterable by community
and, where the rows have one, by building."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

from linli.console.html import link
from linli.console.scoping import ScopedAdmin, ScopedTabularInline
from linli.core.http import client_ip
from linli.core.validators import (
    mask_id_number,
    mask_mobile,
    normalise_id_number,
    validate_id_number,
)
from linli.estate.models import (
    Building,
    Community,
    Occupancy,
    ParkingSpace,
    Person,
    Unit,
    id_number_index,
)
from linli.estate.privacy import may_view_full_mobile, person_mobile_reveal


@admin.register(Community)
class CommunityAdmin(ScopedAdmin):
    community_path = "id"
    list_display = ["name", "code", "company", "city", "district", "phone"]
    search_fields = ["name", "code", "address", "city", "district"]
    # "company" offers choices to a platform superuser only (staff see one company).
    # ScopedAdmin offers staff only their own company for "company" (console.scoping).
    list_filter = ["company", "city"]
    list_select_related = ["company"]
    readonly_fields = ["portal_poster"]

    @admin.display(description=_("Scan-to-pay poster"))
    def portal_poster(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return link(reverse("portal_console:poster", args=[obj.pk]),
                    _("Poster with the owner portal's QR code (PDF)"))


@admin.register(Building)
class BuildingAdmin(ScopedAdmin):
    list_display = ["name", "community", "floors", "sort_order"]
    search_fields = ["name", "community__name"]
    list_filter = ["community"]
    list_select_related = ["community"]


@admin.register(Unit)
class UnitAdmin(ScopedAdmin):
    unit_path = ""
    list_display = [
        "__str__", "community", "building", "entrance", "floor", "room_no",
        "building_area", "usable_area", "kind", "status", "delivered_on",
    ]
    search_fields = ["room_no", "entrance", "building__name", "occupancies__person__name"]
    mobile_index_path = "occupancies__person__mobile_index"
    list_filter = ["community", "building", "kind", "status"]
    list_select_related = ["community", "building__community"]  # str(building) names its community
    autocomplete_fields = ["building"]
    def get_list_display(self, request):
        return [*super().get_list_display(request), unit_money_links(request.user)]


def unit_money_links(user):
    """A column showing the links to a unit's statement (户账) and prepaid deposit page
    that ``user`` may open (built per request: admin instances are shared)."""
    links = [(_("Statement"), "unit:statement", "billing.view_bill"),
             (_("Prepaid deposit"), "unit:deposit", "payments.add_payment")]
    allowed = [(title, name) for title, name, perm in links if user.has_perm(perm)]

    @admin.display(description=_("Fees"))
    def money_links(obj: Unit) -> str:
        if obj.pk is None or not allowed:
            return "—"
        return format_html_join(
            " · ", '<a class="text-primary-600 underline" href="{}">{}</a>',
            ((reverse(name, args=[obj.pk]), title) for title, name in allowed),
        )

    return money_links


@admin.register(ParkingSpace)
class ParkingSpaceAdmin(ScopedAdmin):
    unit_path = "unit"
    list_display = ["code", "community", "location", "kind", "unit", "area"]
    search_fields = ["code", "location", "unit__room_no", "unit__building__name"]
    # A space has no building of its own: it is filtered by the building of its unit.
    list_filter = ["community", "unit__building", "kind"]
    list_select_related = ["community", "unit__building"]
    autocomplete_fields = ["unit"]


class PersonForm(forms.ModelForm):
    """The stored ID number and mobile number are never sent back to the browser: each
    field starts empty, shows the masked number as help, and keeps the stored one unless
    a new one is typed. (Staff who may see a full mobile number open it from the page,
    which the audit log records: ``linli.estate.privacy``.)"""

    KEPT = {"id_number": mask_id_number, "mobile": mask_mobile}

    class Meta:
        model = Person
        fields = ["community", "name", "mobile", "id_number", "note"]
        widgets = {
            "mobile": UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
            "id_number": UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, mask in self.KEPT.items():
            field, stored = self.fields.get(name), getattr(self.instance, name)
            if field is not None and self.instance.pk and stored:
                field.required = False
                field.help_text = _("Stored: %(masked)s. Leave empty to keep it.") % {
                    "masked": mask(stored)
                }
                self.initial[name] = ""

    def _kept(self, name: str):
        value = self.cleaned_data.get(name, "")
        if not value and self.instance.pk:
            return getattr(Person.objects.get(pk=self.instance.pk), name)
        return value

    def clean_id_number(self):
        return self._kept("id_number")

    def clean_mobile(self):
        return self._kept("mobile")


class OccupancyInline(ScopedTabularInline):
    model = Occupancy
    fk_name = "person"
    extra = 0
    autocomplete_fields = ["unit"]
    fields = ["unit", "role", "start_date", "end_date", "is_payer"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("unit__building")


@admin.register(Person)
class PersonAdmin(ScopedAdmin):
    unit_path = "occupancies__unit"
    form = PersonForm
    list_display = ["name", "mobile_display", "id_number_display", "community", "created_at"]
    search_fields = ["name", "occupancies__unit__room_no"]
    mobile_index_path = "mobile_index"
    list_filter = ["community", "occupancies__unit__building"]
    list_select_related = ["community"]
    inlines = [OccupancyInline]

    @admin.display(description=_("mobile"))
    def mobile_display(self, obj: Person) -> str:
        return obj.mobile_masked

    @admin.display(description=_("resident ID number"))
    def id_number_display(self, obj: Person) -> str:
        return obj.id_number_masked

    def get_fields(self, request, obj=None):
        # The form never sends the numbers back (PersonForm), but a view-only page would
        # show every field's value: there they are shown masked, as in the list.
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            masked = {"id_number": "id_number_display", "mobile": "mobile_display"}
            fields = [masked.get(f, f) for f in fields]
        return fields

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.mobile and may_view_full_mobile(request.user, obj):
            fields = [*fields, "mobile_full"]
        return fields

    @admin.display(description=_("full mobile number"))
    def mobile_full(self, obj: Person) -> str:
        """A link to the full number for staff who call owners (each view is audited)."""
        return link(reverse("admin:estate_person_mobile", args=[obj.pk]),
                    _("Show the full number (recorded in the audit log)"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.mobile_view)
        return [path("<path:object_id>/mobile/", view, name="estate_person_mobile"),
                *super().get_urls()]

    def mobile_view(self, request, object_id):
        person = self.get_object(request, unquote(object_id))  # scoped: 404 outside
        mobile = person_mobile_reveal(acting_user=request.user, person=person,
                                      ip=client_ip(request))
        return TemplateResponse(request, "estate/person_mobile.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "person": person,
            "mobile": mobile, "title": _("Mobile number of %(name)s") % {"name": person.name},
            "back_url": reverse("admin:estate_person_change", args=[person.pk]),
        })

    def get_search_results(self, request, queryset, search_term):
        """A full ID number finds its person through the blind index (the column itself
        is encrypted and cannot be searched)."""
        id_number = normalise_id_number(search_term)
        try:
            validate_id_number(id_number)
        except ValidationError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(id_number_index=id_number_index(id_number)), False


@admin.register(Occupancy)
class OccupancyAdmin(ScopedAdmin):
    unit_path = "unit"
    community_path = "unit__community"
    list_display = ["person", "role", "unit", "start_date", "end_date", "is_payer"]
    search_fields = ["person__name", "unit__room_no", "unit__building__name"]
    mobile_index_path = "person__mobile_index"
    list_filter = ["unit__community", "unit__building", "role", "is_payer"]
    list_select_related = ["person", "unit__building"]
    autocomplete_fields = ["unit", "person"]
