"""Binding requests (绑定房屋): an owner asks to be linked to a home; staff decide.

Approving creates the link the rest of the system already understands: an
``estate.Person`` with the owner's mobile (found or created in the community) and an
``estate.Occupancy`` on the unit from today. Until then the owner sees nothing of the
unit. Every decision is audited and limited to the staff member's communities.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core.audit import audit_record, snapshot
from linli.core.crypto import mobile_index
from linli.core.models import AuditEvent
from linli.estate.models import Community, Occupancy, Person, Unit
from linli.owners.models import BindingRequest
from linli.owners.selectors import owner_mobile, owner_unit_ids
from linli.staff.scope import community_ids_for

DECIDE_PERMISSION = "owners.change_bindingrequest"
MAX_PENDING = 5
# How owners write building names that the estate records as "3栋".
_BUILDING_SUFFIXES = ("", "栋", "幢", "号楼", "座")


def _split_entrance(building: str, room: str) -> tuple[str, str, str]:
    """(building, entrance, room) from what an owner typed: the entrance (单元) may be
    written before the room ("2单元1801") or after the building ("3栋2单元")."""
    found = re.match(r"^(\d+单元)\s*(.+)$", room)
    if found:
        return building, found.group(1), found.group(2)
    found = re.search(r"(\d+单元)$", building)
    if found:
        return building[: found.start()].strip(), found.group(1), room
    return building, "", room


def matching_units(*, community: Community, building: str, room: str):
    """Units of ``community`` that the typed address may mean ("3栋" or just "3")."""
    building, entrance, room = _split_entrance(building.strip(), room.strip())
    names = {building + suffix for suffix in _BUILDING_SUFFIXES}
    units = Unit.objects.filter(community=community, building__name__in=names, room_no=room)
    return units.filter(entrance=entrance) if entrance else units


def binding_request_create(*, user: User, community: Community, building: str, room: str,
                           name: str, role: str, ip: str | None = None) -> BindingRequest:
    """Ask staff to link ``user``'s number to a home."""
    mobile = owner_mobile(user)
    if mobile is None:
        raise PermissionDenied
    building, room, name = building.strip(), room.strip(), name.strip()
    errors = {}
    for field, value in (("building", building), ("room", room), ("name", name)):
        if not value:
            errors[field] = _("This field is required.")
    if role not in BindingRequest.Role.values:
        errors["role"] = _("Please choose who you are in this home.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        User.objects.select_for_update(no_key=True).get(pk=user.pk)  # one request at a time
        pending = BindingRequest.objects.filter(user=user, status=BindingRequest.Status.PENDING)
        if pending.count() >= MAX_PENDING:
            raise ValidationError(
                _("You have %(n)d requests waiting for review. Please wait for the property "
                  "office to answer them.") % {"n": MAX_PENDING}, code="too_many")
        if pending.filter(community=community, building=building, room=room).exists():
            raise ValidationError(_("You have already asked for this home; it is waiting for "
                                    "review."), code="duplicate")
        units = list(matching_units(community=community, building=building, room=room)[:2])
        unit = units[0] if len(units) == 1 else None
        if unit is not None and unit.pk in owner_unit_ids(user):
            raise ValidationError(_("This home is already linked to your number."),
                                  code="already")
        binding = BindingRequest.objects.create(
            user=user, mobile=mobile, mobile_index=mobile_index(mobile), community=community,
            building=building, room=room,
            name=name, role=role, unit=unit)
        audit_record(actor=user, action=AuditEvent.Action.CREATE, obj=binding,
                     changes=snapshot(binding, ["community", "building", "room", "name",
                                                "role", "unit"]), ip=ip)
    return binding


def _check_decider(acting_user, binding: BindingRequest) -> None:
    if not (getattr(acting_user, "is_authenticated", False)
            and acting_user.has_perm(DECIDE_PERMISSION)
            and (acting_user.is_superuser
                 or binding.community_id in community_ids_for(acting_user))):
        raise PermissionDenied


def _lock_pending(acting_user, binding: BindingRequest) -> BindingRequest:
    _check_decider(acting_user, binding)
    locked = BindingRequest.objects.select_for_update(no_key=True).get(pk=binding.pk)
    if locked.status != BindingRequest.Status.PENDING:
        raise ValidationError(_("This request has already been decided."), code="decided")
    return locked


def _person_for(binding: BindingRequest, ip: str | None, acting_user) -> Person:
    """The community's person with this mobile (the same name preferred), else a new one."""
    people = Person.objects.filter(community_id=binding.community_id,
                                   mobile_index=mobile_index(binding.mobile))
    person = people.filter(name=binding.name).first() or people.order_by("id").first()
    if person is not None:
        return person
    person = Person(community_id=binding.community_id, name=binding.name,
                    mobile=binding.mobile, note=_("Added by a home binding request"))
    person.normalise()
    person.full_clean()
    person.save()
    audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=person,
                 changes=snapshot(person, ["name", "mobile", "note"]), ip=ip)
    return person


def binding_request_approve(*, acting_user, binding: BindingRequest, unit: Unit | None = None,
                            is_payer: bool = False, ip: str | None = None) -> BindingRequest:
    """Link the requester to ``unit`` (default: the unit the address matched)."""
    with transaction.atomic():
        locked = _lock_pending(acting_user, binding)
        unit = unit or locked.unit
        if unit is None:
            raise ValidationError({"unit": _("Choose the unit this request is for.")})
        if unit.community_id != locked.community_id:
            raise ValidationError({"unit": _("The unit is in another community.")})
        person = _person_for(locked, ip, acting_user)
        today = timezone.localdate()
        occupancy = (Occupancy.objects.filter(unit=unit, person=person, role=locked.role,
                                              start_date__lte=today)
                     .exclude(end_date__lt=today).first())
        if occupancy is None:
            occupancy = Occupancy(unit=unit, person=person, role=locked.role, start_date=today,
                                  is_payer=is_payer)
            occupancy.full_clean()
            try:
                with transaction.atomic():
                    occupancy.save()
            except IntegrityError:
                raise ValidationError(_("This person already had this role on the unit "
                                        "today; change that occupancy instead.")) from None
            audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=occupancy,
                         changes=snapshot(occupancy, ["unit", "person", "role", "start_date",
                                                      "is_payer"]), ip=ip)
        locked.status = BindingRequest.Status.APPROVED
        locked.unit, locked.occupancy = unit, occupancy
        locked.decided_by, locked.decided_at = acting_user, timezone.now()
        locked.save(update_fields=["status", "unit", "occupancy", "decided_by", "decided_at"])
        audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=locked,
                     summary="Approved a home binding request",
                     changes={"status": [BindingRequest.Status.PENDING, locked.status],
                              "occupancy": str(occupancy)}, ip=ip)
    return locked


def binding_request_reject(*, acting_user, binding: BindingRequest, reason: str,
                           ip: str | None = None) -> BindingRequest:
    """Refuse the request; the owner sees the reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Please tell the owner why.")})
    with transaction.atomic():
        locked = _lock_pending(acting_user, binding)
        locked.status = BindingRequest.Status.REJECTED
        locked.reject_reason = reason[:200]
        locked.decided_by, locked.decided_at = acting_user, timezone.now()
        locked.save(update_fields=["status", "reject_reason", "decided_by", "decided_at"])
        audit_record(actor=acting_user, action=AuditEvent.Action.ACTION, obj=locked,
                     summary="Rejected a home binding request",
                     changes={"status": [BindingRequest.Status.PENDING, locked.status],
                              "reason": locked.reject_reason}, ip=ip)
    return locked
