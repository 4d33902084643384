"""One test per definition: the fixture community (fixture.py) gives the figures worked
out by hand there, for January 2026 as of 2026-01-31 (S = 2026-01-01)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from linli.reports import rates
from linli.reports.definitions import DEFINITIONS, format_rate, rate
from linli.reports.scope import Scope, Window
from linli.reports.tests.fixture import build

pytestmark = pytest.mark.django_db

D = dt.date(2026, 1, 31)
JAN = Window.month("2026-01")


@pytest.fixture
def estate():
    return build()


@pytest.fixture
def jan(estate):
    return rates.collection_rate(Scope(frozenset({estate.community.pk})), JAN, D)


def test_charged_is_bills_less_waivers_of_them(jan):
    # 6 bills of 150.00 for January, less U2's 20.00 parking waiver
    assert jan.issued_fen == 45000 and jan.waived_fen == 2000
    assert jan.charged_fen == 43000


def test_collected_counts_prepaid_when_applied_and_nets_refunds(jan):
    # U1 150.00 from its prepaid balance, U2 100.00 cash, less 35.48 refunded to U2
    assert jan.paid_fen == 25000 and jan.refunded_fen == 3548
    assert jan.collected_fen == 21452


def test_collection_rate_is_collected_over_charged_rounded_once(jan):
    assert jan.rate == Decimal("0.4989")           # 21452 / 43000 = 0.498883…
    assert format_rate(jan.rate) == "49.89%"


def test_opening_arrears_are_what_older_bills_owed_at_the_start(jan):
    # December: U2 property 100.00 (its parking was waived), U3 property and parking
    assert jan.opening_fen == 25000


def test_recovery_rate_counts_money_on_older_bills_in_the_window(jan):
    # U3 paid December's 100.00 on 2026-01-12 (its 1.20 late fee is not counted)
    assert jan.recovered_fen == 10000
    assert jan.recovery_rate == Decimal("0.4000")


def test_overall_rate(jan):
    assert jan.overall_rate == Decimal("0.4625")   # 31452 / 68000 = 0.46252…


def test_households_rate_counts_units_owing_nothing_on_the_window(jan):
    # U1 paid up; U2 owes 30.00 of parking, U3 everything
    assert (jan.units_paid_up, jan.units_charged) == (1, 3)
    assert jan.households_rate == Decimal("0.3333")


def test_received_in_advance_is_future_bills_paid_plus_prepaid_held(jan):
    # U3's March bills paid on 2026-01-15, and U1's 500.00 − 150.00 prepaid balance
    assert jan.advance_fen == 15000 + 35000


def test_late_fees_have_their_own_line_and_stay_out_of_the_rate(estate):
    dec = rates.collection_rate(Scope(frozenset({estate.community.pk})),
                                Window.month("2025-12"), D)
    assert dec.late_fee_fen == 120
    assert dec.charged_fen == 40000 and dec.collected_fen == 25000
    assert dec.rate == Decimal("0.6250")


def test_aging_buckets_what_bills_owe_by_days_past_due(estate):
    day = dt.date(2026, 2, 10)
    buckets = rates.aging(Scope(frozenset({estate.community.pk})), day)[()]
    # March bills of U1 and U2 not yet due; January's (due 01-31) 10 days past due;
    # December's (due 12-31) 41 days
    assert buckets == [30000, 18000, 15000, 0, 0, 0, 0]
    per_unit = rates.aging(Scope(frozenset({estate.community.pk})), day, dims=("unit",))
    assert {k[0]: sum(v) for k, v in per_unit.items()} == {
        estate.units["U1"].pk: 15000, estate.units["U2"].pk: 28000,
        estate.units["U3"].pk: 20000}


def test_rates_round_half_up_once_and_are_absent_without_a_denominator():
    assert rate(1, 8) == Decimal("0.1250")
    assert rate(5, 100000) == Decimal("0.0001")      # 0.00005 rounds up
    assert rate(1, 0) is None and format_rate(None) == "—"


def test_every_definition_has_words():
    assert all(str(d.text) and str(d.name) for d in DEFINITIONS.values())
