"""One object of each console model inside a given community, for the scope tests.

``test_scope_registry`` runs for every page registered in the console. A page whose
model has no factory fails, saying so: add one here or in the model's own app as
``linli/<app>/tests/scope_factories.py`` defining ``FACTORIES`` the same way.

A factory takes ``(community, token)`` and returns a saved object that belongs to
``community`` and that the page's search box finds by ``token`` (a unique text); or,
when the page cannot search by free text, ``(object, text_it_is_found_by)``.

The billing factories below are a fallback written by the console work so that the
billing pages are covered from the start; ``linli/billing/tests/scope_factories.py``
takes precedence when it exists.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from decimal import Decimal

from django.apps import apps
from django.db import models

from linli import testing as t
from linli.billing.models import (
    BillAdjustment,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
)
from linli.billing.services import config as billing_config
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.meters import meter_ensure, reading_record
from linli.core.audit import audit_record
from linli.core.models import AuditEvent
from linli.estate.models import Building, Community, ParkingSpace
from linli.ledger.chart import BANK, CASH
from linli.ledger.services import Line, post_entry
from linli.staff.models import Role

Factory = Callable[[Community, str], models.Model]


def _community(community: Community, token: str) -> Community:
    community.address = token
    community.save(update_fields=["address"])
    return community


def _building(community: Community, token: str) -> Building:
    return Building.objects.create(community=community, name=token)


def _unit(community: Community, token: str):
    return t.make_unit(community, building=f"{token}栋", room=token)


def _parking(community: Community, token: str) -> ParkingSpace:
    return ParkingSpace.objects.create(community=community, code=token, location="B1")


def _person(community: Community, token: str):
    return t.make_person(community, name=token)


def _occupancy(community: Community, token: str):
    unit = t.make_unit(community, building=f"{token}栋")
    return t.make_occupancy(unit, t.make_person(community, name=token))


def _staff(community: Community, token: str):
    user = t.make_staff(community.company, Role.MANAGER, [community], username=token.lower())
    return user.staff


def _audit_event(community: Community, token: str) -> AuditEvent:
    unit = t.make_unit(community)
    return audit_record(actor=None, action=AuditEvent.Action.CHANGE, obj=unit, summary=token)


def _journal_entry(community: Community, token: str):
    return post_entry(
        community_id=community.pk,
        business_key=f"test:{token}",
        kind="test",
        lines=[Line.debit(BANK, 100), Line.credit(CASH, 100)],
    )


# --- billing (fallback; see the module docstring) ---------------------------------------
_START = dt.date(2024, 1, 1)


def _fee_item(community: Community, token: str) -> FeeItem:
    return billing_config.fee_item_create(
        acting_user=None, community=community, name=token, category=FeeItem.Category.PROPERTY
    )


def _standard(community: Community, token: str, **terms) -> ChargeStandard:
    terms.setdefault("method", ChargeStandard.Method.BUILDING_AREA)
    return billing_config.standard_create(
        acting_user=None, fee_item=_fee_item(community, token), name=token, due_days=30, **terms
    )


def _rate(community: Community, token: str):
    return billing_config.standard_rate_add(
        acting_user=None, standard=_standard(community, token), effective_from=_START,
        unit_price=Decimal("2.50"),
    )


def _binding(community: Community, token: str) -> Binding:
    standard = _rate(community, token).standard
    return billing_config.binding_create(
        acting_user=None, standard=standard, scope=Binding.Scope.COMMUNITY, start_date=_START
    )


def _billing_settings(community: Community, token: str):
    return BillingSettings.objects.get_or_create(community=community)[0], community.name


def _one_off_bill(community: Community, token: str):
    standard = _standard(
        community, token, method=ChargeStandard.Method.ONE_OFF, cycle=ChargeStandard.Cycle.ONCE
    )
    unit = t.make_unit(community, room=token)
    [bill] = billing_config.bill_issue_one_off(
        acting_user=None, standard=standard, unit_ids=[unit.pk], reason=token,
        due_date=dt.date(2026, 12, 31), amount_fen=100_000,
    )
    return bill


def _bill_adjustment(community: Community, token: str) -> BillAdjustment:
    return bill_adjustment_request(
        acting_user=None, bill=_one_off_bill(community, token),
        kind=BillAdjustment.Kind.WAIVER, reason=token, amount_fen=100,
    )


def _bill_run(community: Community, token: str):
    _binding(community, token)
    period_key = f"2025-{int(token[-2:]) % 12 + 1:02d}"  # unique among a test's three
    run, _preview = bill_run_commit(
        acting_user=None, community_id=community.pk, period_key=period_key,
        today=dt.date(2025, 12, 31),
    )
    return run, period_key


def _meter(community: Community, token: str) -> Meter:
    return meter_ensure(
        acting_user=None, unit=t.make_unit(community), kind=Meter.Kind.WATER, serial=token
    )


def _meter_reading(community: Community, token: str):
    return reading_record(
        acting_user=None, meter=_meter(community, token), period_key="2025-10",
        value=Decimal("12.5"), today=dt.date(2025, 11, 1),
    )


FACTORIES: dict[str, Factory] = {
    "estate.community": _community,
    "estate.building": _building,
    "estate.unit": _unit,
    "estate.parkingspace": _parking,
    "estate.person": _person,
    "estate.occupancy": _occupancy,
    "staff.staffmember": _staff,
    "core.auditevent": _audit_event,
    "ledger.journalentry": _journal_entry,
    "billing.feeitem": _fee_item,
    "billing.chargestandard": _standard,
    "billing.standardrate": _rate,
    "billing.binding": _binding,
    "billing.billingsettings": _billing_settings,
    "billing.bill": _one_off_bill,
    "billing.billadjustment": _bill_adjustment,
    "billing.billrun": _bill_run,
    "billing.meter": _meter,
    "billing.meterreading": _meter_reading,
}


def factory_for(model: type[models.Model]) -> Factory | None:
    """The factory from the model's own app (``<app>.tests.scope_factories``), else ours."""
    label = model._meta.label_lower
    app_config = apps.get_app_config(model._meta.app_label)
    module_name = f"{app_config.name}.tests.scope_factories"
    if module_name != __name__:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
        else:
            if label in getattr(module, "FACTORIES", {}):
                return module.FACTORIES[label]
    return FACTORIES.get(label)
