"""Planning details a run's reader sees: which binding's dates a unit is billed for when
a standard has several, how warnings count and name units, and which prices a standard's
page shows as used (what the bill table's indexes are asked)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from linli import testing as t
from linli.billing.models import Bill, Binding, ChargeStandard, FeeItem, StandardRate
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.estate.models import Unit

TODAY = dt.date(2026, 11, 20)
PERIOD = "2026-11"  # 30 days
D = Decimal


def _standard(community, method=ChargeStandard.Method.FIXED_UNIT, price="30"):
    item = FeeItem.objects.create(community=community, name="服务费", category="other")
    standard = ChargeStandard.objects.create(fee_item=item, name="服务费", method=method,
                                             due_days=30)
    rate = StandardRate.objects.create(standard=standard, effective_from=dt.date(2024, 1, 1),
                                       unit_price=D(price))
    return standard, rate


def _days(bill: Bill) -> str:
    return bill.detail.get("days", "30/30")


@pytest.mark.django_db
def test_each_unit_is_billed_for_the_days_of_the_binding_that_covers_it():
    community = t.make_community(t.make_company())
    a = [t.make_unit(community, building="A栋") for _ in range(3)]
    b = [t.make_unit(community, building="B栋") for _ in range(2)]
    shop = t.make_unit(community, building="C栋")
    Unit.objects.filter(pk=shop.pk).update(kind=Unit.Kind.COMMERCIAL)
    other = t.make_unit(community, building="C栋")  # bound by nothing: no bill
    standard, _rate = _standard(community)
    Binding.objects.create(standard=standard, scope=Binding.Scope.BUILDING,
                           building=a[0].building, start_date=dt.date(2024, 1, 1))
    Binding.objects.create(standard=standard, scope=Binding.Scope.BUILDING,
                           building=b[0].building, start_date=dt.date(2026, 11, 16))
    Binding.objects.create(standard=standard, scope=Binding.Scope.UNIT_KIND,
                           unit_kind=Unit.Kind.COMMERCIAL, start_date=dt.date(2024, 1, 1),
                           end_date=dt.date(2026, 11, 10))

    run, _preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                    period_key=PERIOD, today=TODAY)

    bills = {bill.unit_id: bill for bill in Bill.objects.filter(bill_run=run)}
    assert other.pk not in bills
    assert {_days(bills[u.pk]) for u in a} == {"30/30"}
    assert {bills[u.pk].amount_fen for u in a} == {3000}
    assert {_days(bills[u.pk]) for u in b} == {"15/30"}  # from the 16th
    assert {bills[u.pk].amount_fen for u in b} == {1500}
    assert _days(bills[shop.pk]) == "10/30"  # until the 10th
    assert bills[shop.pk].amount_fen == 1000


@pytest.mark.django_db
def test_a_warning_counts_every_unit_and_names_the_first_five():
    community = t.make_community(t.make_company())
    units = [t.make_unit(community, building="9栋", entrance="2单元", room=f"10{i}")
             for i in range(7)]
    Unit.objects.filter(pk__in=[u.pk for u in units]).update(building_area=None,
                                                              usable_area=None)
    standard, _rate = _standard(community, ChargeStandard.Method.BUILDING_AREA, "2.50")
    Binding.objects.create(standard=standard, scope=Binding.Scope.COMMUNITY,
                           start_date=dt.date(2024, 1, 1))

    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)

    assert preview.bill_count == 0
    (warning,) = preview.warnings
    assert warning["code"] == "no_area"
    assert warning["count"] == 7
    assert warning["examples"] == [f"9栋2单元10{i}" for i in range(5)]


@pytest.mark.django_db
def test_a_standard_shows_which_of_its_prices_bills_used_and_keeps_them():
    community = t.make_community(t.make_company())
    t.make_unit(community)
    standard, used = _standard(community)
    Binding.objects.create(standard=standard, scope=Binding.Scope.COMMUNITY,
                           start_date=dt.date(2024, 1, 1))
    later = StandardRate.objects.create(standard=standard, effective_from=dt.date(2027, 1, 1),
                                        unit_price=D("35"))
    assert config.used_rate_ids(standard.pk) == set()

    bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                    today=TODAY)

    assert config.used_rate_ids(standard.pk) == {used.pk}
    with pytest.raises(ValidationError):
        config.standard_rate_delete(acting_user=None, rate=used)
    assert StandardRate.objects.filter(pk=used.pk).exists()
    config.standard_rate_delete(acting_user=None, rate=later)  # never billed: may go
    assert not StandardRate.objects.filter(pk=later.pk).exists()


def test_the_writer_stores_each_detail_as_its_own_json():
    """On PostgreSQL the writer hands COPY the JSON text itself: shared or not, each
    bill's detail is stored as exactly what it says (1 stays 1, True stays true)."""
    import json

    from linli.billing.models import BillRun
    from linli.billing.services.bill_run import _BatchWriter

    writer = _BatchWriter(BillRun(community_id=1, period_key=PERIOD), None)
    details = [{"months": 1}, {"months": 1}, {"months": True}, {"prorated_by": ["delivery"]},
               {"days": "15/30", "months": 1}]
    for _ in range(3):  # remembered or not, the same text
        for detail in details + [dict(d) for d in details]:
            assert writer._detail_json(detail) == json.dumps(detail)
    for n in range(3000):  # many distinct details: what it remembers stays bounded
        assert writer._detail_json({"area": str(n)}) == json.dumps({"area": str(n)})
    assert len(writer._json) <= 1001
