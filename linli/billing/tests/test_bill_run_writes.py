"""What a bill run writes, and how it is proven.

The bill columns kept without a database foreign key (community, fee item, standard,
price, meter reading, run, issuer) are proven by `linli check` (``billing.bill_references``);
the keys to what a bill is charged on (unit, parking space) stay in the database. The writer
shares equal calculation details and leaves garbage collection as it found it."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from linli import testing as t
from linli.billing.invariants import bill_references
from linli.billing.models import (
    Bill,
    BillRun,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    MeterReading,
    StandardRate,
)
from linli.billing.services.bill_run import BillRunChanged, bill_run_commit
from linli.staff.models import Role

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)
PERIOD = "2026-11"


def fee(community, name, method=ChargeStandard.Method.FIXED_UNIT, price="15.00"):
    item = FeeItem.objects.create(community=community, name=name, category="other")
    standard = ChargeStandard.objects.create(fee_item=item, name=name, method=method)
    rate = StandardRate.objects.create(standard=standard, effective_from=dt.date(2024, 1, 1),
                                       unit_price=Decimal(price))
    Binding.objects.create(standard=standard, scope=Binding.Scope.COMMUNITY,
                           start_date=dt.date(2024, 1, 1))
    return item, standard, rate


@pytest.fixture
def issued(estate):
    """One committed run in A1, issued by a staff member: a bill per unit."""
    community = estate["a1"]
    t.make_unit(community)
    item, standard, rate = fee(community, "垃圾费")
    issuer = t.make_staff(estate["company_a"], Role.MANAGER, [community])
    run, _preview = bill_run_commit(acting_user=issuer, community_id=community.pk,
                                    period_key=PERIOD, today=TODAY)
    bills = list(Bill.objects.filter(bill_run=run).order_by("pk"))
    assert len(bills) == 2 and all(b.issued_by_id == issuer.pk for b in bills)
    return {**estate, "run": run, "bills": bills, "item": item, "standard": standard,
            "rate": rate}


def sql(statement: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def set_column(bill: Bill, column: str, value) -> None:
    sql(f"UPDATE billing_bill SET {column} = %s WHERE id = %s", [value, bill.pk])


def test_a_clean_run_passes(issued):
    assert bill_references() == (2, [])


@pytest.mark.parametrize("column, value, why", [
    ("community_id", "a2", "its community is not its unit's community"),
    ("community_id", 999_999, "its community is not its unit's community"),
    ("fee_item_id", 999_999, "its fee item is missing or of another community"),
    ("fee_item_id", "a2_item", "its fee item is missing or of another community"),
    ("bill_run_id", 999_999, "its bill run is missing or of another community"),
    ("bill_run_id", "a2_run", "its bill run is missing or of another community"),
    ("standard_id", "other_standard", "its charge standard is missing or of another fee item"),
    ("standard_id", 999_999, "its charge standard is missing or of another fee item"),
    ("rate_id", "other_rate", "its price is missing or of another standard"),
    ("issued_by_id", 999_999, "the user who issued it does not exist"),
])
def test_a_reference_that_is_missing_or_disagrees_is_reported(issued, column, value, why):
    """Each of these writes is accepted by the database (no foreign key, or one the
    wrong row still satisfies); `linli check` names the bill and what is wrong."""
    other_item, other_standard, other_rate = fee(issued["a1"], "电梯费")
    values = {
        "a2": issued["a2"].pk,
        "a2_run": BillRun.objects.create(community=issued["a2"], period_key=PERIOD).pk,
        "other_standard": other_standard.pk,
        "other_rate": other_rate.pk,
        "a2_item": fee(issued["a2"], "电梯费")[0].pk,
    }
    value = values.get(value, value)
    victim = issued["bills"][0]
    set_column(victim, column, value)

    checked, violations = bill_references()
    assert checked == 2
    assert f"bill #{victim.pk}: {why} (#{value})" in violations
    # Only the altered bill (moving it to A2 also parts it from its run, which is A1's).
    assert all(v.startswith(f"bill #{victim.pk}: ") for v in violations)


def test_a_reading_of_another_units_meter_is_reported(issued):
    bill = issued["bills"][0]
    other_unit = next(u for u in issued["a1"].units.all() if u.pk != bill.unit_id)
    meter = Meter.objects.create(unit=other_unit, community=issued["a1"], kind="water")
    reading = MeterReading.objects.create(meter=meter, community=issued["a1"],
                                          period_key=PERIOD, value=10, usage=10)
    set_column(bill, "reading_id", reading.pk)
    assert bill_references()[1] == [
        f"bill #{bill.pk}: its meter reading is missing or of another unit's meter "
        f"(#{reading.pk})"
    ]
    own_meter = Meter.objects.create(unit_id=bill.unit_id, community=issued["a1"], kind="water")
    own = MeterReading.objects.create(meter=own_meter, community=issued["a1"],
                                      period_key=PERIOD, value=10, usage=10)
    set_column(bill, "reading_id", own.pk)
    assert bill_references()[1] == []


def test_a_bill_marked_reversed_must_be_a_cancelled_bill_of_a_reversed_run(issued):
    bill, other = issued["bills"]
    set_column(bill, "run_reversed", True)  # its run stands: the period looks free
    assert bill_references()[1] == [
        f"bill #{bill.pk}: it is marked as of a reversed run, but is not a cancelled bill "
        f"of one (#{bill.bill_run_id})"]
    set_column(bill, "run_reversed", False)
    BillRun.objects.filter(pk=bill.bill_run_id).update(status=BillRun.Status.REVERSED)
    assert sorted(bill_references()[1]) == sorted(
        f"bill #{b.pk}: its run was reversed, but it is not marked so (#{b.bill_run_id})"
        for b in (bill, other))


@pytest.mark.parametrize("column", ["unit_id", "parking_space_id"])
def test_what_a_bill_is_charged_on_stays_enforced_by_the_database(issued, column):
    with pytest.raises(IntegrityError), transaction.atomic():
        set_column(issued["bills"][0], column, 999_999)
        connection.check_constraints(table_names=["billing_bill"])


def test_the_writer_shares_equal_details_but_never_changes_one():
    """Bills write their calculation detail as planned: equal details are encoded once
    (one object), but 1 is not True and a list-valued detail is left as it is."""
    from linli.billing.services.bill_run import _BatchWriter

    writer = _BatchWriter(BillRun(community_id=1, period_key=PERIOD), None)
    first, same, other = {"months": 1}, {"months": 1}, {"months": True}
    assert writer._details(first) is first
    assert writer._details(same) is first
    assert writer._details(other) is other
    listed = {"prorated_by": ["delivery"]}
    assert writer._details(listed) is listed


def test_a_run_leaves_garbage_collection_as_it_found_it(issued):
    """The run sets the process's older objects aside from collection while it writes;
    they are handed back when it ends, whether it committed or failed."""
    assert gc.get_freeze_count() == 0  # after the fixture's committed run
    with pytest.raises(BillRunChanged):
        bill_run_commit(acting_user=None, community_id=issued["a1"].pk, period_key="2026-12",
                        today=TODAY, expected=(0, 0))
    assert gc.get_freeze_count() == 0
