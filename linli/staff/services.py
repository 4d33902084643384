from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from linli.core.audit import audit_record, snapshot
from linli.core.models import AuditEvent
from linli.estate.models import Community, Company
from linli.staff.models import Role, StaffMember
from linli.staff.roles import group_name


def _apply_role(user: User, role: str) -> None:
    """A staff login belongs to exactly one role group and is staff, never superuser."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    role_groups = Group.objects.filter(name__startswith="role:")
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get_or_create(name=group_name(role))[0])


def _check_communities(company: Company, communities: Iterable[Community]) -> list[Community]:
    communities = list(communities)
    if any(c.company_id != company.pk for c in communities):
        raise ValidationError(_("A staff member can only work in their own company's communities."))
    return communities


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
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    communities = _check_communities(company, communities)
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("The login name %(name)s is taken.") % {"name": username})
    user = User.objects.create_user(username=username, password=password, first_name=display_name)
    member = StaffMember.objects.create(
        user=user, company=company, role=role, display_name=display_name, mobile=mobile
    )
    member.communities.set(communities)
    _apply_role(user, role)
    audit_record(
        actor=acting_user, action=AuditEvent.Action.CREATE, obj=member, changes=snapshot(member)
    )
    return member


@transaction.atomic
def staff_member_update(
    *, acting_user, member: StaffMember, role: str, communities: Iterable[Community]
) -> StaffMember:
    communities = _check_communities(member.company, communities)
    before = {"role": member.role, "communities": sorted(c.pk for c in member.communities.all())}
    member.role = role
    member.save(update_fields=["role"])
    member.communities.set(communities)
    _apply_role(member.user, role)
    after = {"role": role, "communities": sorted(c.pk for c in communities)}
    audit_record(
        actor=acting_user,
        action=AuditEvent.Action.CHANGE,
        obj=member,
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
    )
    return member
