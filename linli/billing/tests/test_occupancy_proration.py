"""Proration by occupancy: parking is charged for the days its unit is held, per-unit fees
with a vacancy discount charge the unheld days at the vacancy percentage — the pure
arithmetic first, then whole runs (preview = commit, one occupancy query, bill page)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from linli import testing as t
from linli.billing.calculators.charges import ChargeError, ChargeInput, compute_charge
from linli.billing.calculators.periods import covered_days, period_for
from linli.billing.models import Bill, Binding, ChargeStandard
from linli.billing.services.bill_run import bill_run_commit, bill_run_preview
from linli.billing.tests.test_bill_run import fee, in_english, staff
from linli.estate.models import Occupancy, Unit

D = Decimal
TODAY = dt.date(2026, 11, 20)
PERIOD = "2026-11"  # 30 days
NOV = period_for(PERIOD, "monthly")


def day(n: int) -> dt.date:
    return dt.date(2026, 11, n)


# --- pure arithmetic -----------------------------------------------------------------------


def test_covered_days_counts_a_day_once_however_many_spans_cover_it():
    spans = [(day(1), day(10)), (day(5), day(12)), (day(20), None), (dt.date(2020, 1, 1),
                                                                   dt.date(2026, 10, 31))]
    assert covered_days(NOV, spans) == 12 + 11
    assert covered_days(NOV, spans, start=day(11), end=day(25)) == 2 + 6
    assert covered_days(NOV, []) == 0


def test_vacant_days_pay_the_vacancy_percentage():
    # ¥300 a month; 10 of 30 days vacant at 50 % → 20 + 5 = 25 days' worth = ¥250.
    line = compute_charge(ChargeInput("fixed_unit", D(300), vacancy_percent=D(50),
                                      vacant_share=Fraction(10, 30)))
    assert line.amount_fen == 25000
    assert line.detail["vacant_share"] == "1/3" and line.detail["vacancy_percent"] == "50"
    # No vacant day: no discount, and the bill does not mention one.
    line = compute_charge(ChargeInput("fixed_unit", D(300), vacancy_percent=D(50),
                                      vacant_share=Fraction(0)))
    assert line.amount_fen == 30000 and "vacancy_percent" not in line.detail
    # Vacant days outside the days billed are refused.
    with pytest.raises(ChargeError):
        compute_charge(ChargeInput("fixed_unit", D(300), proration=Fraction(1, 3),
                                   vacancy_percent=D(50), vacant_share=Fraction(1, 2)))


days_in_nov = st.integers(min_value=0, max_value=29)


@given(
    spans=st.lists(st.tuples(days_in_nov, st.integers(min_value=0, max_value=40)), max_size=5),
    lo=days_in_nov, length=st.integers(min_value=0, max_value=30),
)
def test_covered_days_is_the_number_of_distinct_days_covered(spans, lo, length):
    as_dates = [(NOV.start + dt.timedelta(days=s), NOV.start + dt.timedelta(days=s + n))
                for s, n in spans]
    start = NOV.start + dt.timedelta(days=lo)
    end = start + dt.timedelta(days=length)
    expected = {NOV.start + dt.timedelta(days=i) for i in range(NOV.days)}
    expected = {d for d in expected if start <= d <= end
                and any(s <= d <= e for s, e in as_dates)}
    assert covered_days(NOV, as_dates, start, end) == len(expected)
    assert covered_days(NOV, list(reversed(as_dates)), start, end) == len(expected)


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("20"), places=4),
    area=st.decimals(min_value=D("1"), max_value=D("500"), places=2),
    vacant=st.lists(st.booleans(), min_size=30, max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=29), max_size=3, unique=True),
    percent=st.integers(min_value=0, max_value=100),
)
def test_splitting_a_period_with_vacant_days_changes_the_total_by_at_most_rounding(
    price, area, vacant, cuts, percent
):
    """The period cut into parts, each billed for its own days and its own vacant days:
    the parts add up to the whole within half a fen per rounding."""

    def charge(first: int, last: int) -> int:  # days first..last-1 of November
        vacant_days = sum(vacant[first:last])
        return compute_charge(ChargeInput(
            "building_area", price, area=area, proration=Fraction(last - first, 30),
            vacancy_percent=D(percent), vacant_share=Fraction(vacant_days, 30),
        )).amount_fen

    bounds = [0, *sorted(cuts), 30]
    parts = [charge(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    # Each part and the whole round once, by at most half a fen each.
    assert 2 * abs(sum(parts) - charge(0, 30)) <= len(parts) + 1


# --- whole runs --------------------------------------------------------------------------


def hold(unit: Unit, start: dt.date, end: dt.date | None = None, role=Occupancy.Role.OWNER):
    return Occupancy.objects.create(unit=unit, person=t.make_person(unit.community), role=role,
                                    start_date=start, end_date=end, is_payer=True)


@pytest.fixture
def held(estate):
    """Community A1 with property fee by area (vacant pay 50 %), a fixed fee with no
    vacancy discount, and parking per space; units held in various ways in November."""
    community = estate["a1"]
    units = {
        "always": estate["a1_unit"],  # owned since 2024 (the estate fixture)
        "left": t.make_unit(community, area="100.00"),  # owner left on the 10th
        "gone": t.make_unit(community, area="100.00"),  # held until October only
        "unknown": t.make_unit(community, area="100.00"),  # no occupancy recorded
        "resold": t.make_unit(community, area="100.00"),  # one owner to the 14th, next after
        "late": t.make_unit(community, area="100.00"),  # delivered 16th, moved in 21st
        "vacant": t.make_unit(community, area="100.00"),  # status vacant, owned all along
    }
    Unit.objects.filter(community=community).update(status=Unit.Status.OCCUPIED)
    Unit.objects.filter(pk=units["vacant"].pk).update(status=Unit.Status.VACANT)
    Unit.objects.filter(pk=units["late"].pk).update(delivered_on=day(16))
    hold(units["left"], dt.date(2025, 3, 1), day(10))
    hold(units["gone"], dt.date(2025, 3, 1), dt.date(2026, 10, 31))
    hold(units["resold"], dt.date(2025, 3, 1), day(14))
    hold(units["resold"], day(15))
    hold(units["late"], day(21), role=Occupancy.Role.TENANT)
    hold(units["vacant"], dt.date(2025, 3, 1))
    spaces = {"always": estate["a1_parking"]}
    for key in ("left", "gone", "unknown", "resold", "late"):
        spaces[key] = t.make_parking(community, units[key])
    items = {
        "property": fee(community, "物业服务费", ChargeStandard.Method.BUILDING_AREA, "2.50",
                        vacancy=D(50)),
        "rubbish": fee(community, "垃圾费", ChargeStandard.Method.FIXED_UNIT, "15",
                       category="other"),
        "parking": fee(community, "停车费", ChargeStandard.Method.FIXED_SPACE, "150",
                       category="parking", scope=Binding.Scope.ALL_PARKING),
    }
    return {**estate, "units": units, "spaces": spaces, "items": items}


def bills_by(item, key: str) -> dict[str, Bill]:
    column = "parking_space_id" if key == "space" else "unit_id"
    return {getattr(b, column): b for b in Bill.objects.filter(fee_item=item)}


@pytest.mark.django_db
def test_parking_is_charged_only_for_the_days_its_unit_is_held(held):
    run, preview = bill_run_commit(acting_user=None, community_id=held["a1"].pk,
                                   period_key=PERIOD, today=TODAY)
    spaces = held["spaces"]
    by_space = bills_by(held["items"]["parking"], "space")
    amounts = {key: by_space[s.pk].amount_fen if s.pk in by_space else None
               for key, s in spaces.items()}
    assert amounts == {
        "always": 15000,
        "left": 5000,  # 10 of 30 days
        "gone": None,  # held on no day of November: no bill
        "unknown": 15000,  # no occupancy recorded: billed as before
        "resold": 15000,  # held every day, by two owners in turn
        "late": 5000,  # 21st–30th
    }
    left = by_space[spaces["left"].pk]
    assert left.detail["days"] == "10/30" and left.detail["prorated_by"] == ["occupancy"]
    assert "prorated_by" not in by_space[spaces["resold"].pk].detail
    warning = next(w for w in run.warnings if w["code"] == "space_unheld")
    assert warning["count"] == 1 and warning["examples"] == [spaces["gone"].code]


@pytest.mark.django_db
def test_days_without_occupancy_pay_the_vacancy_percentage(held):
    bill_run_commit(acting_user=None, community_id=held["a1"].pk, period_key=PERIOD,
                    today=TODAY)
    units = held["units"]
    property_fee = bills_by(held["items"]["property"], "unit")
    amounts = {key: property_fee[u.pk].amount_fen for key, u in units.items()}
    assert amounts == {
        "always": 22125,  # 88.50 m² × ¥2.50, held all month
        "left": 16667,  # ¥250 × (10 held + 20 vacant × 50 %) / 30 = ¥166.666…
        "gone": 12500,  # no one all month: the vacancy percentage throughout
        "unknown": 25000,  # no occupancy recorded: its status (occupied) decides
        "resold": 25000,
        "late": 10417,  # 15 days from delivery, 5 of them vacant: ¥250 × 12.5/30
        "vacant": 12500,  # status vacant: the vacancy percentage, as before
    }
    late = property_fee[units["late"].pk].detail
    assert late["prorated_by"] == ["delivery", "occupancy"]
    assert (late["days"], late["vacant_days"], late["vacancy_percent"]) == ("15/30", 5, "50.00")
    # A fee with no vacancy discount ignores occupancy: full month, from delivery.
    rubbish = bills_by(held["items"]["rubbish"], "unit")
    assert rubbish[units["left"].pk].amount_fen == 1500
    assert rubbish[units["late"].pk].amount_fen == 750


@pytest.mark.django_db
def test_preview_is_what_the_commit_writes_and_occupancies_are_read_once(held):
    preview = bill_run_preview(community_id=held["a1"].pk, period_key=PERIOD, today=TODAY)
    with CaptureQueriesContext(connection) as queries:
        run, _ = bill_run_commit(acting_user=None, community_id=held["a1"].pk,
                                 period_key=PERIOD, today=TODAY,
                                 expected=(preview.bill_count, preview.total_fen))
    assert (run.bill_count, run.total_fen) == (preview.bill_count, preview.total_fen)
    # Two standards need occupancy (parking, property with vacancy): one query for both.
    reads = [q["sql"] for q in queries.captured_queries if "estate_occupancy" in q["sql"]]
    assert len(reads) == 1
    again, _ = bill_run_commit(acting_user=None, community_id=held["a1"].pk,
                               period_key=PERIOD, today=TODAY)
    assert again is None  # nothing to issue: nothing recorded


@pytest.mark.django_db
def test_the_bill_page_says_how_the_bill_was_prorated(client, held):
    bill_run_commit(acting_user=None, community_id=held["a1"].pk, period_key=PERIOD,
                    today=TODAY)
    bill = Bill.objects.get(fee_item=held["items"]["property"], unit=held["units"]["late"])
    client.force_login(staff(held, perms=("view_bill",)))
    in_english(client)
    html = client.get(reverse("admin:billing_bill_change", args=[bill.pk])).content.decode()
    assert "1/2 (15/30 days)" in html
    assert "delivery date / occupancy dates" in html
    assert "Days with no occupancy" in html
