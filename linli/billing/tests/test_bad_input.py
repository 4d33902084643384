"""Bad input is refused with a clear message and nothing is written: negative prices, areas
of 0, periods beyond the billing horizon, overlapping standards for one item and unit.

Messages are asserted in Chinese, as staff read them (the compiled catalog).
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from linli import testing as t
from linli.billing.models import (
    Bill,
    BillingSettings,
    BillRun,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.billing.services.planning import BillRunError
from linli.billing.tests.test_admin import billing_manager, inline, rate_row, standard_data
from linli.core.models import AuditEvent
from linli.estate.models import Unit
from linli.ledger.models import JournalEntry

TODAY = dt.date(2026, 11, 20)
START = dt.date(2024, 1, 1)
URL = "/console/billing"


def written():
    """Row counts of everything a refused call must leave alone."""
    models = (FeeItem, ChargeStandard, StandardRate, Binding, Bill, BillRun, BillingSettings,
              JournalEntry, AuditEvent, Unit)
    return {m.__name__: m.objects.count() for m in models}


def refused(call, language="en") -> str:
    before = written()
    with translation.override(language), pytest.raises((ValidationError, BillRunError)) as exc:
        call()
    assert written() == before
    error = exc.value
    return " ".join(error.messages) if isinstance(error, ValidationError) else str(error)


def property_fee(community, name="住宅", *, scope="community", **target):
    item = FeeItem.objects.filter(community=community, name="物业服务费").first()
    if item is None:
        item = config.fee_item_create(acting_user=None, community=community, name="物业服务费",
                                      category="property")
    std = config.standard_create(acting_user=None, fee_item=item, name=name,
                                 method="building_area")
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=Decimal("2.50"))
    config.binding_create(acting_user=None, standard=std, scope=scope, start_date=START, **target)
    return std


# --- negative prices ------------------------------------------------------------------------


def add_negative_price(std):
    return lambda: config.standard_rate_add(acting_user=None, standard=std,
                                            effective_from=dt.date(2026, 1, 1),
                                            unit_price=Decimal("-0.01"))


def test_a_negative_price_is_refused(estate):
    std = property_fee(estate["a1"])
    assert "must not be negative" in refused(add_negative_price(std))
    water = config.standard_create(
        acting_user=None, fee_item=FeeItem.objects.create(community=estate["a1"], name="水费",
                                                          category="water"),
        name="阶梯水价", method="metered", meter_kind="water", timing="arrears")
    assert "must not be negative" in refused(lambda: config.standard_rate_add(
        acting_user=None, standard=water, effective_from=START, unit_price="1",
        tiers=[{"up_to": "10", "price": "-1"}, {"up_to": None, "price": "2"}]))


def test_a_negative_price_is_refused_in_chinese(estate):
    std = property_fee(estate["a1"])
    assert "不能为负" in refused(add_negative_price(std), "zh-hans")


def test_a_negative_price_is_refused_in_the_console(client, estate):
    std = property_fee(estate["a1"])
    rate = StandardRate.objects.get()
    client.force_login(billing_manager(estate))
    before = written()
    response = client.post(f"{URL}/chargestandard/{std.pk}/change/", standard_data(
        rates=[rate_row(rate), rate_row(effective_from="2026-01-01", unit_price="-3")],
        initial_rates=1, **inline("bindings", [])))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert "unit_price" in errors[1]
    assert "确保该值大于或等于0" in response.content.decode()  # Django's own catalog
    assert written() == before


# --- areas of 0 -----------------------------------------------------------------------------


def test_a_unit_with_area_zero_is_refused_in_the_console(client, estate):
    community = estate["a1"]
    client.force_login(t.make_staff(estate["company_a"], "manager", [community]))
    before = written()
    response = client.post("/console/estate/unit/add/", {
        "community": community.pk, "building": estate["a1_building"].pk, "entrance": "2单元",
        "floor": "3", "room_no": "301", "building_area": "0", "usable_area": "0",
        "kind": "residential", "status": "occupied", "delivered_on": "",
    })
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert {"building_area", "usable_area"} <= set(form.errors)
    # Django's own catalog words the message (no compile step needed).
    assert "确保该值大于或等于0.01" in response.content.decode()
    assert written() == before


def test_the_database_refuses_area_zero_too(estate):
    unit = estate["a1_unit"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Unit.objects.filter(pk=unit.pk).update(building_area=Decimal("0"))
    unit.refresh_from_db()
    assert unit.building_area == Decimal("88.50")


def test_a_unit_without_area_is_left_out_of_an_area_charge_with_a_warning(estate):
    property_fee(estate["a1"])
    Unit.objects.filter(pk=estate["a1_unit"].pk).update(building_area=None)
    preview = bill_run_preview(community_id=estate["a1"].pk, period_key="2026-11", today=TODAY)
    assert preview.bill_count == 0
    assert [w["code"] for w in preview.warnings] == ["no_area"]


# --- a period beyond the horizon ------------------------------------------------------------


def test_a_period_beyond_the_horizon_is_refused(estate):
    community = estate["a1"]
    property_fee(community)
    BillingSettings.objects.update_or_create(community=community, defaults={"horizon_months": 3})
    # November + 3 months = February is the last month that may be billed.
    assert bill_run_preview(community_id=community.pk, period_key="2027-02",
                            today=TODAY).bill_count == 1
    message = refused(lambda: bill_run_preview(community_id=community.pk,
                                               period_key="2027-03", today=TODAY))
    assert "more than 3 months ahead" in message
    refused(lambda: bill_run_commit(acting_user=None, community_id=community.pk,
                                    period_key="2027-03", today=TODAY))
    refused(lambda: bill_run_preview(community_id=community.pk, period_key="2026-13",
                                     today=TODAY))


def test_a_period_beyond_the_horizon_is_refused_in_chinese(estate):
    property_fee(estate["a1"])
    message = refused(lambda: bill_run_preview(community_id=estate["a1"].pk,
                                               period_key="2030-01", today=TODAY), "zh-hans")
    assert "个月" in message


# --- overlapping standards ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"scope": "community"}, {"scope": "unit", "unit": "a1_unit"}),
        ({"scope": "building", "building": "a1_building"}, {"scope": "unit", "unit": "a1_unit"}),
        ({"scope": "unit_kind", "unit_kind": "residential"},
         {"scope": "building", "building": "a1_building"}),
        ({"scope": "unit", "unit": "a1_unit"}, {"scope": "unit", "unit": "a1_unit"}),
    ],
)
def test_overlapping_standards_for_the_same_item_and_unit_are_refused(estate, first, second):
    def resolve(spec):
        return {k: estate[v] if k in ("unit", "building") else v for k, v in spec.items()}

    std = property_fee(estate["a1"], **resolve(first))
    shop = config.standard_create(acting_user=None, fee_item=std.fee_item, name="商铺",
                                  method="fixed_unit")
    message = refused(lambda: config.binding_create(
        acting_user=None, standard=shop, start_date=dt.date(2026, 1, 1), **resolve(second)))
    assert "charged twice" in message and "住宅" in message


def test_overlap_counts_only_shared_days(estate):
    std = property_fee(estate["a1"])
    config.binding_end(acting_user=None, binding=Binding.objects.get(standard=std),
                       end_date=dt.date(2026, 6, 30))
    shop = config.standard_create(acting_user=None, fee_item=std.fee_item, name="新标准",
                                  method="fixed_unit")
    refused(lambda: config.binding_create(acting_user=None, standard=shop, scope="community",
                                          start_date=dt.date(2026, 6, 30)))
    config.binding_create(acting_user=None, standard=shop, scope="community",
                          start_date=dt.date(2026, 7, 1))


def test_overlapping_standards_are_refused_in_chinese(estate):
    std = property_fee(estate["a1"])
    shop = config.standard_create(acting_user=None, fee_item=std.fee_item, name="商铺",
                                  method="fixed_unit")
    message = refused(lambda: config.binding_create(
        acting_user=None, standard=shop, scope="unit", unit=estate["a1_unit"],
        start_date=START), "zh-hans")
    assert "重复" in message


def test_overlapping_standards_are_refused_in_the_console(client, estate):
    std = property_fee(estate["a1"])
    client.force_login(billing_manager(estate))
    before = written()
    data = standard_data(std.fee_item, name="商铺", method="fixed_unit",
                         rates=[rate_row(unit_price="5")],
                         bindings=[{"scope": "unit", "unit": estate["a1_unit"].pk,
                                    "building": "", "unit_kind": "", "parking_space": "",
                                    "start_date": "2026-01-01", "end_date": ""}])
    response = client.post(f"{URL}/chargestandard/add/", data)
    assert response.status_code == 200
    binding_errors = response.context["inline_admin_formsets"][1].formset.errors[0]
    assert "charged twice" in str(binding_errors) or "重复" in str(binding_errors)
    assert written() == before
