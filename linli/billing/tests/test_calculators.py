"""The pure billing arithmetic: no database."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.billing.calculators.charges import ChargeError, ChargeInput, compute_charge
from linli.billing.calculators.due import due_date
from linli.billing.calculators.late_fee import LateFeeRule, late_fee_fen
from linli.billing.calculators.periods import (
    Period,
    PeriodError,
    parse_month,
    period_for,
    proration,
)
from linli.billing.calculators.tiers import (
    Tier,
    TierTextError,
    tiered_amount,
    tiers_from_text,
    tiers_to_text,
)

D = Decimal


def test_area_times_price_rounds_half_up_once():
    # 2.35 元/㎡·月 × 89.57 ㎡ = 210.4895 → ¥210.49
    line = compute_charge(ChargeInput("building_area", D("2.35"), area=D("89.57")))
    assert line.amount_fen == 21049
    # 0.5 fen exactly rounds up: 1.005 元 → 101 fen
    assert compute_charge(ChargeInput("fixed_unit", D("1.005"))).amount_fen == 101


def test_quarterly_area_charge_is_three_months_rounded_once():
    # 3 × 1.8333 × 100 = 549.99 exactly; rounding per month would give 3 × 183.33
    line = compute_charge(ChargeInput("building_area", D("1.8333"), area=D("100"), months=3))
    assert line.amount_fen == 54999


def test_vacancy_and_proration():
    line = compute_charge(
        ChargeInput("fixed_unit", D("100"), proration=Fraction(15, 30), vacancy_percent=D("50"))
    )
    assert line.amount_fen == 2500
    assert line.detail["vacancy_percent"] == "50"


def test_missing_area_or_usage_is_an_error_not_zero():
    with pytest.raises(ChargeError):
        compute_charge(ChargeInput("building_area", D("2.35"), area=None))
    with pytest.raises(ChargeError):
        compute_charge(ChargeInput("metered", D("3.5"), usage=None))


def test_tiered_water():
    tiers = (Tier(D("10"), D("3.5")), Tier(None, D("4.8")))
    amount, parts = tiered_amount(D("12.5"), tiers)
    assert amount == D("10") * D("3.5") + D("2.5") * D("4.8")
    assert [p["quantity"] for p in parts] == ["10", "2.5"]
    line = compute_charge(ChargeInput("metered", D("0"), usage=D("12.5"), tiers=tiers))
    assert line.amount_fen == 4700


@given(st.decimals(min_value=0, max_value=1000, places=2))
def test_tiered_total_matches_flat_when_one_tier(usage):
    amount, _ = tiered_amount(usage, (Tier(None, D("2.1")),))
    assert amount == usage * D("2.1")


def test_tiers_typed_as_text():
    assert tiers_from_text("10 3.50\n20：4.80；以上 6") == [
        {"up_to": "10", "price": "3.50"}, {"up_to": "20", "price": "4.80"},
        {"up_to": None, "price": "6"}]
    assert tiers_from_text("  \n") == []
    with pytest.raises(TierTextError) as exc:
        tiers_from_text("10 3.50\n20 4 80\n6")
    assert (exc.value.line_no, exc.value.line) == (2, "20 4 80")


_bound = st.decimals(min_value=1, max_value=10_000, places=2).map(str)
_price = st.decimals(min_value=0, max_value=100, places=4).map(str)


@given(st.lists(st.tuples(_bound, _price), max_size=5), _price)
def test_tiers_shown_as_text_read_back_the_same(bounded, last):
    tiers = [{"up_to": b, "price": p} for b, p in bounded] + [{"up_to": None, "price": last}]
    assert tiers_from_text(tiers_to_text(tiers)) == tiers


def test_periods():
    assert period_for("2026-11", "monthly") == Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    q = period_for("2026-11", "quarterly")
    assert (q.start, q.end, q.months) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31), 3)
    y = period_for("2026-03", "yearly", anchor_month=7)
    assert (y.start, y.end) == (dt.date(2025, 7, 1), dt.date(2026, 6, 30))
    with pytest.raises(PeriodError):
        parse_month("2026-13")


def test_proration_by_days():
    p = period_for("2026-02", "monthly")  # 28 days
    assert proration(p, dt.date(2026, 2, 15), None) == Fraction(14, 28)
    assert proration(p, None, dt.date(2026, 1, 31)) == 0


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("20"), places=4),
    area=st.decimals(min_value=D("1"), max_value=D("500"), places=2),
    split=st.integers(min_value=1, max_value=29),
)
def test_splitting_a_period_changes_the_total_by_at_most_the_rounding_of_each_part(price, area, split):
    period = period_for("2026-03", "monthly")  # 31 days
    whole = compute_charge(ChargeInput("building_area", price, area=area)).amount_fen
    cut = period.start + dt.timedelta(days=split)
    first = compute_charge(
        ChargeInput("building_area", price, area=area,
                    proration=proration(period, None, cut - dt.timedelta(days=1)))
    ).amount_fen
    second = compute_charge(
        ChargeInput("building_area", price, area=area, proration=proration(period, cut, None))
    ).amount_fen
    assert abs(first + second - whole) <= 1


def test_due_dates():
    p = period_for("2026-02", "monthly")
    assert due_date(p, rule="days_after_start", days=30) == dt.date(2026, 3, 3)
    assert due_date(p, rule="days_after_end", days=15) == dt.date(2026, 3, 15)
    assert due_date(p, rule="day_of_month", day_of_month=31) == dt.date(2026, 2, 28)


def test_late_fee_capped_by_principal_and_absolute_cap():
    rule = LateFeeRule(daily_rate=D("0.0005"), grace_days=5)
    due = dt.date(2026, 1, 31)
    # 10 days past grace on ¥1,000 at 0.05 %/day = ¥5.00
    assert late_fee_fen(principal_fen=100000, due_date=due, as_of=dt.date(2026, 2, 15), rule=rule) == 500
    assert late_fee_fen(principal_fen=100000, due_date=due, as_of=dt.date(2026, 2, 5), rule=rule) == 0
    capped = LateFeeRule(daily_rate=D("0.0005"), cap_fen=300)
    assert late_fee_fen(principal_fen=100000, due_date=due, as_of=dt.date(2026, 12, 31), rule=capped) == 300
    huge = LateFeeRule(daily_rate=D("0.5"))
    assert late_fee_fen(principal_fen=1000, due_date=due, as_of=dt.date(2026, 12, 31), rule=huge) == 1000


def test_prorated_line_is_exact_before_its_one_rounding():
    # 1/3 of ¥0.015 is exactly ¥0.005 → rounds up to 1 fen; a 28-digit decimal 1/3
    # would give 0.004999… and round down.
    line = compute_charge(ChargeInput("fixed_unit", D("0.015"), proration=Fraction(1, 3)))
    assert line.amount_fen == 1


def test_no_float_reaches_the_calculator():
    with pytest.raises(TypeError):
        compute_charge(ChargeInput("fixed_unit", 2.5))  # type: ignore[arg-type]
