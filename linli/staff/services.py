"""Creating and changing staff logins. The role decides the permission group; the
communities decide the scope (a company admin's scope is the whole company)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from linli.core.audit import audit_record, diff, snapshot
from linli.core.models import AuditEvent
from linli.core.validators import mask_mobile
from linli.estate.models import Community, Company
from linli.staff.models import Role, StaffMember
from linli.staff.roles import group_name

PASSWORD_CHANGED = "••••"


def _apply_role(user: User, role: str) -> None:
    """A staff login belongs to exactly one role group and is staff, never superuser."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    role_groups = Group.objects.filter(name__startswith="role:")
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get_or_create(name=group_name(role))[0])


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))


def _check_communities(company: Company, communities: Iterable[Community]) -> list[Community]:
    communities = list(communities)
    if any(c.company_id != company.pk for c in communities):
        raise ValidationError(_("A staff member can only work in their own company's communities."))
    return communities


def _community_names(communities: Iterable[Community]) -> list[str]:
    return sorted(str(c) for c in communities)


@transaction.atomic
def staff_member_create(
    *,
    acting_user,
    company: Company,
    username: str,
    password: str,
    display_name: str,
    role: str,
    communities: Iterable[Community] = (),
    mobile: str = "",
) -> StaffMember:
    _check_role(role)
    communities = _check_communities(company, communities)
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("The login name %(name)s is taken.") % {"name": username})
    user = User.objects.create_user(username=username, password=password, first_name=display_name)
    member = StaffMember.objects.create(
        user=user, company=company, role=role, display_name=display_name, mobile=mobile
    )
    member.communities.set(communities)
    _apply_role(user, role)
    after = {**snapshot(member), "communities": _community_names(communities)}
    audit_record(
        actor=acting_user, action=AuditEvent.Action.CREATE, obj=member, changes=diff({}, after)
    )
    return member


def _member_state(member: StaffMember) -> dict:
    return {
        "role": member.role,
        "communities": _community_names(member.communities.all()),
        "display_name": member.display_name,
        "mobile": mask_mobile(member.mobile) if member.mobile else "",
        "is_active": member.user.is_active,
    }


@transaction.atomic
def staff_member_update(
    *,
    acting_user,
    member: StaffMember,
    role: str,
    communities: Iterable[Community],
    display_name: str | None = None,
    mobile: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> StaffMember:
    """Change a staff member's role and communities (re-syncing the role group) and,
    when given, their name, mobile, whether the login is active, and the password."""
    _check_role(role)
    communities = _check_communities(member.company, communities)
    member = StaffMember.objects.select_for_update(no_key=True).select_related("user").get(pk=member.pk)
    before = _member_state(member)
    member.role = role
    if display_name is not None:
        member.display_name = display_name
    if mobile is not None:
        member.mobile = mobile
    member.save(update_fields=["role", "display_name", "mobile"])
    member.communities.set(communities)
    user = member.user
    if display_name is not None:
        user.first_name = display_name
    if is_active is not None:
        user.is_active = is_active
    if password:
        user.set_password(password)
    user.save()
    _apply_role(user, role)
    changes = diff(before, _member_state(member))
    if password:
        changes["password"] = ["", PASSWORD_CHANGED]
    if changes:
        audit_record(
            actor=acting_user, action=AuditEvent.Action.CHANGE, obj=member, changes=changes
        )
    return member
