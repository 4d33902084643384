"""Configuring fee items, standards, prices and bindings, and one-off charges — through the
services, checked against the bills they lead to and the ledger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import translation

from linli import testing as t
from linli.billing.models import (
    Bill,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    MeterReading,
    StandardRate,
)
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.core.models import AuditEvent
from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.ledger.selectors import account_balance
from linli.payments.models import Channel, PrepaidWallet
from linli.payments.services import prepaid_deposit

TODAY = dt.date(2026, 11, 20)
START = dt.date(2024, 1, 1)
M = ChargeStandard.Method


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English; their Chinese is checked in test_bad_input.
    with translation.override("en"):
        yield


def refused(call, *fragments):
    with pytest.raises(ValidationError) as exc:
        call()
    text = " ".join(exc.value.messages)
    for fragment in fragments:
        assert fragment in text, text
    return exc.value


def property_fee(community, user=None, *, price="2.50", scope=Binding.Scope.COMMUNITY, **scoped):
    item = config.fee_item_create(acting_user=user, community=community, name="物业服务费",
                                  category=FeeItem.Category.PROPERTY)
    std = config.standard_create(acting_user=user, fee_item=item, name="住宅",
                                 method=M.BUILDING_AREA, due_days=30)
    config.standard_rate_add(acting_user=user, standard=std, effective_from=START,
                             unit_price=Decimal(price))
    config.binding_create(acting_user=user, standard=std, scope=scope, start_date=START,
                          **scoped)
    return item, std


def deposit_standard(community, user=None, price="2000.00"):
    item = config.fee_item_create(acting_user=user, community=community, name="装修押金",
                                  category=FeeItem.Category.DEPOSIT)
    std = config.standard_create(acting_user=user, fee_item=item, name="装修押金",
                                 method=M.ONE_OFF, cycle=ChargeStandard.Cycle.ONCE)
    if price:
        config.standard_rate_add(acting_user=user, standard=std, effective_from=START,
                                 unit_price=Decimal(price))
    return std


def check_ok():
    try:
        call_command("linli_check")
    except SystemExit as exc:
        pytest.fail(f"linli check failed ({exc.code})")


# --- fee items and standards ---------------------------------------------------------------


def test_fee_item_writes_are_audited_and_names_unique_per_community(estate):
    manager = t.make_staff(estate["company_a"], "manager", [estate["a1"]])
    item = config.fee_item_create(acting_user=manager, community=estate["a1"], name=" 停车费 ",
                                  category=FeeItem.Category.PARKING)
    assert item.name == "停车费"
    event = AuditEvent.objects.get(object_id=str(item.pk), action=AuditEvent.Action.CREATE,
                                   content_type__model="feeitem")
    assert (event.actor, event.community_id) == (manager, estate["a1"].pk)

    refused(lambda: config.fee_item_create(acting_user=manager, community=estate["a1"],
                                           name="停车费", category="parking"),
            "already has a fee item called")
    # Another community may use the same name.
    config.fee_item_create(acting_user=manager, community=estate["a2"], name="停车费",
                           category="parking")
    config.fee_item_update(acting_user=manager, fee_item=item, active=False)
    assert AuditEvent.objects.filter(object_id=str(item.pk), changes__active=[True, False]).exists()
    assert FeeItem.objects.count() == 2


@pytest.mark.parametrize(
    ("category", "method", "terms", "field", "message"),
    [
        ("deposit", M.BUILDING_AREA, {}, "method", "does not suit"),
        ("parking", M.METERED, {"timing": "arrears", "meter_kind": "water"}, "method",
         "does not suit"),
        ("water", M.METERED, {"timing": "arrears"}, "meter_kind", "the kind of meter"),
        ("water", M.METERED, {"timing": "arrears", "meter_kind": "gas"}, "meter_kind",
         "reads Water meters"),
        ("water", M.METERED, {"meter_kind": "water"}, "timing", "billed in arrears"),
        ("property", M.FIXED_UNIT, {"meter_kind": "water"}, "meter_kind", "Only metered"),
        ("property", M.ONE_OFF, {}, "cycle", "only they"),
        ("property", M.FIXED_UNIT, {"cycle": "once"}, "cycle", "only they"),
        ("property", M.FIXED_UNIT, {"vacancy_percent": Decimal("120")}, "vacancy_percent",
         "between 0 and 100"),
        ("property", M.FIXED_UNIT, {"vacancy_percent": Decimal("-1")}, "vacancy_percent",
         "between 0 and 100"),
        ("property", M.FIXED_UNIT, {"late_fee_enabled": True, "late_fee_daily_rate": 0},
         "late_fee_daily_rate", "above zero"),
        ("property", M.FIXED_UNIT, {"late_fee_cap_fen": -1}, "late_fee_cap_fen",
         "must not be negative"),
        ("property", M.FIXED_UNIT, {"due_rule": "day_of_month", "due_day_of_month": 32},
         "due_day_of_month", "from 1 to 31"),
    ],
)
def test_standard_must_make_sense(estate, category, method, terms, field, message):
    item = FeeItem.objects.create(community=estate["a1"], name="x", category=category)
    exc = refused(lambda: config.standard_create(acting_user=None, fee_item=item, name="s",
                                                 method=method, **terms), message)
    assert field in exc.error_dict
    assert ChargeStandard.objects.count() == 0


def test_sensible_standards_are_accepted(estate):
    water = FeeItem.objects.create(community=estate["a1"], name="水费", category="water")
    std = config.standard_create(acting_user=None, fee_item=water, name="居民用水",
                                 method=M.METERED, meter_kind="water", timing="arrears",
                                 vacancy_percent=Decimal("0"))
    assert std.pk
    parking = FeeItem.objects.create(community=estate["a1"], name="停车费", category="parking")
    config.standard_create(acting_user=None, fee_item=parking, name="月租", method=M.FIXED_SPACE,
                           late_fee_enabled=True, late_fee_daily_rate=Decimal("0.0005"),
                           late_fee_cap_fen=5000)


def test_category_and_method_are_fixed_once_bills_are_issued(estate):
    item, std = property_fee(estate["a1"])
    config.fee_item_update(acting_user=None, fee_item=item, category=FeeItem.Category.SHARED)
    refused(lambda: config.standard_update(acting_user=None, standard=std, method=M.FIXED_SPACE),
            "bindings do not suit")
    bill_run_commit(acting_user=None, community_id=estate["a1"].pk, period_key="2026-11",
                    today=TODAY)
    refused(lambda: config.fee_item_update(acting_user=None, fee_item=item,
                                           category=FeeItem.Category.PROPERTY),
            "can no longer change")
    refused(lambda: config.standard_update(acting_user=None, standard=std, method=M.USABLE_AREA),
            "can no longer change")
    # Other terms may change; issued bills keep theirs.
    config.standard_update(acting_user=None, standard=std, due_days=10, late_fee_enabled=True)
    bill = Bill.objects.get()
    assert bill.due_date == dt.date(2026, 12, 1) and bill.late_fee_daily_rate is None


def test_no_day_is_billed_twice_when_the_billing_year_is_cut_differently(estate):
    """A quarterly fee billed for October–December: its cycle is fixed from then on, and
    a billing year moved to start in November bills nobody for a quarter that overlaps
    the one already billed."""
    community = estate["a1"]
    _item, std = property_fee(community)
    config.standard_update(acting_user=None, standard=std, cycle=ChargeStandard.Cycle.QUARTERLY)
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk,
                             period_key="2026-10", today=TODAY)
    quarter = Bill.objects.get()
    assert (quarter.period_start, quarter.period_end) == (dt.date(2026, 10, 1),
                                                          dt.date(2026, 12, 31))
    refused(lambda: config.standard_update(acting_user=None, standard=std,
                                           cycle=ChargeStandard.Cycle.MONTHLY),
            "cycle can no longer change")
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"quarter_anchor_month": 11})
    again, preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                     period_key="2026-11", today=TODAY)
    assert (again, preview.already_billed) == (None, 1)
    assert Bill.objects.count() == 1


# --- prices ---------------------------------------------------------------------------------


def test_price_rules(estate):
    _item, std = property_fee(estate["a1"])
    add = config.standard_rate_add
    refused(lambda: add(acting_user=None, standard=std, effective_from=dt.date(2026, 1, 1),
                        unit_price=Decimal("2.12345")), "at most four decimal places")
    refused(lambda: add(acting_user=None, standard=std, effective_from=dt.date(2026, 1, 1),
                        unit_price="abc"), "is not a price")
    refused(lambda: add(acting_user=None, standard=std, effective_from=START,
                        unit_price=Decimal("3")), "already has a price from 2024-01-01")
    refused(lambda: add(acting_user=None, standard=std, effective_from=dt.date(2026, 1, 1),
                        unit_price=Decimal("3"), tiers=[{"up_to": None, "price": "1"}]),
            "Only metered charges")
    with pytest.raises(TypeError):
        add(acting_user=None, standard=std, effective_from=dt.date(2026, 1, 1), unit_price=2.5)
    assert StandardRate.objects.count() == 1
    rate = add(acting_user=None, standard=std, effective_from=dt.date(2026, 1, 1),
               unit_price="2.6000")
    assert rate.unit_price == Decimal("2.6")


def test_a_price_from_inside_a_period_is_pointed_out_and_applies_next_period(estate):
    community = estate["a1"]
    _item, std = property_fee(community)
    config.standard_rate_add(acting_user=None, standard=std, effective_from=dt.date(2026, 12, 15),
                             unit_price=Decimal("3.00"))
    december = bill_run_preview(community_id=community.pk, period_key="2026-12", today=TODAY)
    assert december.total_fen == 22125  # 88.50 m² × ¥2.50, the price of 1 December
    assert [(w["code"], w["examples"]) for w in december.warnings] == [
        ("price_mid_period", [f"{std} → 2026-12-15"])]
    january = bill_run_preview(community_id=community.pk, period_key="2027-01", today=TODAY)
    assert (january.total_fen, january.warnings) == (26550, [])


def test_a_new_price_changes_new_bills_only(estate):
    community = estate["a1"]
    _item, std = property_fee(community)
    bill_run_commit(acting_user=None, community_id=community.pk, period_key="2026-11",
                    today=TODAY)
    november = Bill.objects.get(period_key="2026-11")
    assert november.amount_fen == 22125  # 88.50 m² × ¥2.50
    old_rate = StandardRate.objects.get()

    # The price a bill used never changes, nor goes.
    refused(lambda: config.standard_rate_change(acting_user=None, rate=old_rate,
                                                effective_from=START, unit_price=Decimal("9")),
            "can no longer change")
    refused(lambda: config.standard_rate_delete(acting_user=None, rate=old_rate),
            "can no longer change")

    config.standard_rate_add(acting_user=None, standard=std, effective_from=dt.date(2026, 12, 1),
                             unit_price=Decimal("3.00"))
    bill_run_commit(acting_user=None, community_id=community.pk, period_key="2026-12",
                    today=TODAY)
    november.refresh_from_db()
    assert november.amount_fen == 22125 and november.unit_price == Decimal("2.5")
    december = Bill.objects.get(period_key="2026-12")
    assert (december.amount_fen, december.unit_price) == (26550, Decimal("3"))
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == 22125 + 26550


def test_an_unused_price_may_be_corrected_or_removed(estate):
    _item, std = property_fee(estate["a1"])
    later = config.standard_rate_add(acting_user=None, standard=std,
                                     effective_from=dt.date(2027, 1, 1), unit_price="3")
    later = config.standard_rate_change(acting_user=None, rate=later,
                                        effective_from=dt.date(2027, 2, 1), unit_price="3.2")
    assert (later.effective_from, later.unit_price) == (dt.date(2027, 2, 1), Decimal("3.2"))
    config.standard_rate_delete(acting_user=None, rate=later)
    assert StandardRate.objects.count() == 1
    actions = list(AuditEvent.objects.filter(content_type__model="standardrate",
                                             object_id=str(later.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["change", "create", "delete"]


def water_fee(community, tiers):
    item = FeeItem.objects.create(community=community, name="水费", category="water")
    std = config.standard_create(acting_user=None, fee_item=item, name="居民阶梯水价",
                                 method=M.METERED, meter_kind="water", timing="arrears")
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=None, tiers=tiers)
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    return std


def read_meter(unit, period_key, usage):
    meter = Meter.objects.create(unit=unit, community=unit.community, kind="water")
    return MeterReading.objects.create(meter=meter, community=unit.community,
                                       period_key=period_key, value=usage, usage=usage)


def test_tiered_water_is_billed_tier_by_tier(estate):
    community = estate["a1"]
    water_fee(community, [{"up_to": "10", "price": "3.50"}, {"up_to": "20", "price": "4.80"},
                          {"up_to": None, "price": "6.00"}])
    rate = StandardRate.objects.get()
    assert rate.unit_price == Decimal("3.5")  # the first tier's price, shown on bills
    assert rate.tiers[2] == {"up_to": None, "price": "6.00"}
    read_meter(estate["a1_unit"], "2026-10", Decimal("25"))
    bill_run_commit(acting_user=None, community_id=community.pk, period_key="2026-10",
                    today=TODAY)
    bill = Bill.objects.get()
    # 10 × 3.50 + 10 × 4.80 + 5 × 6.00 = 35 + 48 + 30
    assert bill.amount_fen == 11300
    assert bill.quantity == Decimal("25")
    assert [Decimal(p["quantity"]) for p in bill.detail["tiers"]] == [10, 10, 5]
    check_ok()


@pytest.mark.parametrize(
    "tiers",
    [
        [{"up_to": "10", "price": "3"}],  # the last tier must be open-ended
        [{"up_to": "10", "price": "3"}, {"up_to": "5", "price": "4"}, {"up_to": None,
                                                                       "price": "5"}],
        [{"up_to": None, "price": "3"}, {"up_to": None, "price": "4"}],
        [{"up_to": "10", "price": "-3"}, {"up_to": None, "price": "4"}],
        "not a list",
    ],
)
def test_invalid_tiers_are_refused(estate, tiers):
    item = FeeItem.objects.create(community=estate["a1"], name="水费", category="water")
    std = config.standard_create(acting_user=None, fee_item=item, name="阶梯", method=M.METERED,
                                 meter_kind="water", timing="arrears")
    exc = refused(lambda: config.standard_rate_add(acting_user=None, standard=std,
                                                   effective_from=START, unit_price="3",
                                                   tiers=tiers))
    assert "tiers" in exc.error_dict
    assert StandardRate.objects.count() == 0


# --- bindings -------------------------------------------------------------------------------


def test_binding_targets_are_checked(estate):
    item, std = property_fee(estate["a1"])
    other = config.standard_create(acting_user=None, fee_item=item, name="商铺",
                                   method=M.FIXED_UNIT)
    create = config.binding_create
    refused(lambda: create(acting_user=None, standard=other, scope="building", start_date=START,
                           building=estate["a2_building"]), "another community")
    refused(lambda: create(acting_user=None, standard=other, scope="unit", start_date=START),
            "Choose a unit")
    refused(lambda: create(acting_user=None, standard=other, scope="unit_kind",
                           start_date=START, unit_kind="castle"), "Choose a unit kind")
    refused(lambda: create(acting_user=None, standard=other, scope="parking", start_date=START,
                           parking_space=estate["a1_parking"]), "apply to units")
    refused(lambda: create(acting_user=None, standard=other, scope="community", start_date=START,
                           end_date=dt.date(2023, 1, 1)), "ends before it starts")
    deposit = deposit_standard(estate["a1"])
    refused(lambda: create(acting_user=None, standard=deposit, scope="community",
                           start_date=START), "not bound")
    assert Binding.objects.count() == 1


def test_bindings_that_do_not_overlap_are_accepted(estate):
    community = estate["a1"]
    shop = t.make_unit(community, building="9栋")
    item, std = property_fee(community, scope="building", building=estate["a1_building"])
    other = config.standard_create(acting_user=None, fee_item=item, name="9栋", method=M.FIXED_UNIT)
    config.binding_create(acting_user=None, standard=other, scope="unit", unit=shop,
                          start_date=START)
    # The same standard may be bound twice (the run bills each unit once).
    config.binding_create(acting_user=None, standard=std, scope="unit",
                          unit=estate["a1_unit"], start_date=START)
    # Another fee item is another bill.
    parking = FeeItem.objects.create(community=community, name="停车费", category="parking")
    space_std = config.standard_create(acting_user=None, fee_item=parking, name="月租",
                                       method=M.FIXED_SPACE)
    config.binding_create(acting_user=None, standard=space_std, scope="all_parking",
                          start_date=START)
    # A new standard can take over the day after the old binding ends.
    old = Binding.objects.get(standard=std, scope="building")
    config.binding_end(acting_user=None, binding=old, end_date=dt.date(2026, 6, 30))
    Binding.objects.filter(standard=std, scope="unit").delete()
    newer = config.standard_create(acting_user=None, fee_item=item, name="新价", method=M.FIXED_UNIT)
    config.binding_create(acting_user=None, standard=newer, scope="building",
                          building=estate["a1_building"], start_date=dt.date(2026, 7, 1))
    # ... but the old one cannot be re-opened over it.
    refused(lambda: config.binding_end(acting_user=None, binding=old, end_date=None),
            "charged twice")


def test_a_binding_is_deleted_only_before_bills(estate):
    _item, std = property_fee(estate["a1"])
    binding = Binding.objects.get()
    bill_run_commit(acting_user=None, community_id=estate["a1"].pk, period_key="2026-11",
                    today=TODAY)
    refused(lambda: config.binding_delete(acting_user=None, binding=binding), "end it instead")
    config.binding_end(acting_user=None, binding=binding, end_date=dt.date(2026, 11, 30))
    mistake = config.binding_create(acting_user=None, standard=std, scope="unit",
                                    unit=estate["a1_unit"], start_date=dt.date(2027, 1, 1))
    config.binding_delete(acting_user=None, binding=mistake)
    assert list(Binding.objects.values_list("end_date", flat=True)) == [dt.date(2026, 11, 30)]


# --- one-off charges ------------------------------------------------------------------------


def test_one_off_charge_bills_chosen_units_and_posts_the_ledger(estate):
    community = estate["a1"]
    manager = t.make_staff(estate["company_a"], "manager", [community])
    second = t.make_unit(community)
    std = deposit_standard(community, manager)
    due = dt.date(2026, 11, 30)
    bills = config.bill_issue_one_off(acting_user=manager, standard=std,
                                      unit_ids=[estate["a1_unit"].pk, second.pk],
                                      reason="装修申请", due_date=due, today=TODAY)
    assert [b.amount_fen for b in bills] == [200000, 200000]
    key = bills[0].period_key
    assert key.startswith("O-") and {b.period_key for b in bills} == {key}
    assert all(b.due_date == due and b.issued_by == manager and b.note == "装修申请" for b in bills)
    assert JournalEntry.objects.filter(business_key=f"oneoff:{key}").exists()
    # A deposit is held for the unit, not earned.
    assert account_balance(account=chart.DEPOSITS_HELD, community_id=community.pk) == 400000
    assert account_balance(account=chart.REVENUE, community_id=community.pk) == 0
    # Charging the same unit again is a new charge, not a duplicate.
    again = config.bill_issue_one_off(acting_user=manager, standard=std,
                                      unit_ids=[second.pk], reason="二次装修", due_date=due,
                                      amount_fen=50000, today=TODAY)
    assert again[0].period_key != key and again[0].amount_fen == 50000
    assert Bill.objects.filter(unit=second).count() == 2
    check_ok()


def test_one_off_temporary_fee_at_a_typed_price_with_auto_offset(estate):
    community = estate["a1"]
    unit = estate["a1_unit"]
    item = FeeItem.objects.create(community=community, name="临时费用", category="other")
    std = config.standard_create(acting_user=None, fee_item=item, name="垃圾清运",
                                 method=M.ONE_OFF, cycle="once")
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=10000, channel=Channel.CASH,
                    idempotency_key="dep-one-off")
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"auto_offset_prepaid": True})
    [bill] = config.bill_issue_one_off(acting_user=None, standard=std, unit_ids=[unit.pk],
                                       reason="装修垃圾清运", due_date=TODAY,
                                       unit_price=Decimal("80.005"), today=TODAY)
    assert bill.amount_fen == 8001  # rounded once, half up
    bill.refresh_from_db()
    assert bill.status == Bill.Status.PAID
    assert PrepaidWallet.objects.get(unit=unit).balance_fen == 10000 - 8001
    assert account_balance(account=chart.REVENUE, community_id=community.pk) == 8001
    check_ok()


def test_one_off_charges_refuse_bad_requests_and_write_nothing(estate):
    community = estate["a1"]
    unit = estate["a1_unit"]
    std = deposit_standard(community)
    _item, recurring = property_fee(community)
    no_price = deposit_standard(estate["a2"], price=None)

    def issue(**kwargs):
        args = {"acting_user": None, "standard": std, "unit_ids": [unit.pk], "reason": "装修",
                "due_date": TODAY, "today": TODAY, **kwargs}
        return lambda: config.bill_issue_one_off(**args)

    before = (Bill.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())
    refused(issue(standard=recurring), "Only one-off standards")
    refused(issue(unit_ids=[]), "at least one unit")
    refused(issue(unit_ids=[unit.pk, estate["a2_unit"].pk]), "not in this community")
    refused(issue(reason="  "), "Give a reason")
    refused(issue(due_date=dt.date(2026, 11, 19)), "cannot be before today")
    refused(issue(amount_fen=100, unit_price=Decimal("1")), "not both")
    refused(issue(amount_fen=0), "more than zero")
    refused(issue(unit_price=Decimal("-5")), "must not be negative")
    refused(issue(standard=no_price, unit_ids=[estate["a2_unit"].pk]), "no price yet")
    after = (Bill.objects.count(), JournalEntry.objects.count(), AuditEvent.objects.count())
    assert after == before
