"""The staff page: a company admin creates logins for their staff and gives each a role
and communities. Writes go through ``linli.staff.services`` (which sync the role group
and write the audit log); nothing here saves a model directly."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminTextInputWidget

from linli.console.scoping import ScopedAdmin
from linli.core.validators import normalise_mobile, validate_mobile
from linli.estate.models import Company
from linli.staff.models import Role, StaffMember
from linli.staff.services import staff_member_create, staff_member_update

admin.site.unregister(Group)
admin.site.unregister(User)


class _StaffMemberForm(forms.ModelForm):
    """Shared rules. ``acting_user`` is set on the class by ``StaffMemberAdmin.get_form``."""

    acting_user = None
    # Typed with spaces or +86 as often as not; stored as 11 digits.
    mobile = forms.CharField(
        label=_("mobile"), required=False, max_length=20, widget=UnfoldAdminTextInputWidget
    )

    def company(self) -> Company | None:
        raise NotImplementedError

    def clean_mobile(self) -> str:
        mobile = self.cleaned_data.get("mobile", "")
        if mobile:
            validate_mobile(mobile)
        return normalise_mobile(mobile)

    def clean(self):
        cleaned = super().clean()
        role = cleaned.get("role")
        communities = list(cleaned.get("communities") or [])
        if role and role != Role.COMPANY_ADMIN and not communities and "communities" in self.fields:
            self.add_error("communities", _("Choose at least one community for this role."))
        company = self.company()
        if company is not None and any(c.company_id != company.pk for c in communities):
            self.add_error(
                "communities",
                _("A staff member can only work in their own company's communities."),
            )
        return cleaned


class StaffMemberCreateForm(_StaffMemberForm):
    username = forms.CharField(
        label=_("login name"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @ . + - _ only."),
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        label=_("initial password"),
        strip=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password"}),
        help_text=_("Tell it to the staff member; they can change it after logging in."),
    )

    class Meta:
        model = StaffMember
        fields = ["company", "display_name", "mobile", "role", "communities"]

    def company(self) -> Company | None:
        if "company" in self.fields:
            return self.cleaned_data.get("company")
        staff = getattr(self.acting_user, "staff", None)
        return staff.company if staff else None

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(
                _("The login name %(name)s is taken."), params={"name": username}, code="taken"
            )
        return username

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        probe = User(
            username=self.data.get("username", ""), first_name=self.data.get("display_name", "")
        )
        password_validation.validate_password(password, probe)
        return password

    def clean(self):
        cleaned = super().clean()
        if self.company() is None:
            raise ValidationError(_("Only a company admin can create staff."))
        return cleaned

    def save_via_services(self, *, acting_user) -> StaffMember:
        data = self.cleaned_data
        return staff_member_create(
            acting_user=acting_user,
            company=self.company(),
            username=data["username"],
            password=data["password"],
            display_name=data["display_name"],
            role=data["role"],
            communities=data["communities"],
            mobile=data.get("mobile", ""),
        )


class StaffMemberChangeForm(_StaffMemberForm):
    is_active = forms.BooleanField(
        label=_("can log in"),
        required=False,
        help_text=_("Untick when the person leaves; their history stays in the audit log."),
    )
    new_password = forms.CharField(
        label=_("new password"),
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = StaffMember
        fields = ["display_name", "mobile", "role", "communities"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("is_active", self.instance.user.is_active)

    def company(self) -> Company | None:
        return self.instance.company

    def clean_new_password(self) -> str:
        password = self.cleaned_data.get("new_password", "")
        if password:
            password_validation.validate_password(password, self.instance.user)
        return password

    def clean(self):
        cleaned = super().clean()
        if self.acting_user is not None and self.instance.user_id == self.acting_user.pk:
            # Nobody locks themselves out of the console by accident.
            if cleaned.get("role") and cleaned["role"] != self.instance.role:
                self.add_error("role", _("You cannot change your own role."))
            if "is_active" in cleaned and not cleaned["is_active"]:
                self.add_error("is_active", _("You cannot deactivate your own login."))
        return cleaned

    def save_via_services(self, *, acting_user) -> StaffMember:
        data = self.cleaned_data
        return staff_member_update(
            acting_user=acting_user,
            member=self.instance,
            role=data["role"],
            communities=data["communities"],
            display_name=data["display_name"],
            mobile=data.get("mobile", ""),
            is_active=data.get("is_active", True),
            password=data.get("new_password") or None,
        )


@admin.register(StaffMember)
class StaffMemberAdmin(ScopedAdmin):
    """Company admins manage their company's staff. Scoped by company, not community:
    a staff member with no community yet must still be visible to their admin."""

    list_display = ["display_name", "login", "role", "company", "communities_list", "can_log_in"]
    search_fields = ["display_name", "user__username"]
    # "company" offers choices to a platform superuser only (staff see one company).
    list_filter = ["role", "communities", "company"]
    list_select_related = ["user", "company"]
    filter_horizontal = ["communities"]

    def scope(self, qs, user):
        if user.is_superuser and user.is_active:
            return qs
        staff = getattr(user, "staff", None)
        if staff is not None and staff.role == Role.COMPANY_ADMIN:
            return qs.filter(company_id=staff.company_id)
        return qs.filter(user_id=user.pk)  # other roles: only their own record

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("communities")

    def get_fieldsets(self, request, obj=None):
        scope_fields = (_("Role and communities"), {"fields": ["role", "communities"]})
        if obj is None:
            login = ["username", "password", "display_name", "mobile"]
            if request.user.is_superuser:
                login = ["company", *login]
            return [(None, {"fields": login}), scope_fields]
        login = ["login", "company", "display_name", "mobile", "is_active", "new_password"]
        return [(None, {"fields": login}), scope_fields]

    def get_readonly_fields(self, request, obj=None):
        return ["login", "company"] if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = StaffMemberChangeForm if obj is not None else StaffMemberCreateForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = request.user
        return form

    # The services save, sync the role group and audit; the admin only calls them.
    # ``save_form`` is where Django expects the object that the response links to.
    def save_form(self, request, form, change):
        return form.save_via_services(acting_user=request.user)

    def save_model(self, request, obj, form, change):
        return None

    def save_related(self, request, form, formsets, change):
        return None

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("login name"), ordering="user__username")
    def login(self, obj: StaffMember) -> str:
        return obj.user.username

    @admin.display(description=_("can log in"), boolean=True, ordering="user__is_active")
    def can_log_in(self, obj: StaffMember) -> bool:
        return obj.user.is_active

    @admin.display(description=_("communities"))
    def communities_list(self, obj: StaffMember) -> str:
        if obj.role == Role.COMPANY_ADMIN:
            return str(_("All communities of the company"))
        return "、".join(c.name for c in obj.communities.all())
