"""Money: fen ints, yuan at the edges, one ROUND_HALF_UP (DESIGN §3)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from django.utils import translation
from hypothesis import example, given
from hypothesis import strategies as st

from linli.money import (
    MoneyError,
    fen_to_decimal,
    fen_to_yuan_str,
    format_fen,
    format_price,
    parse_yuan,
    plain_number,
    price_times,
    round_to_fen,
    split_fen,
)


def half_up(x: Fraction) -> int:
    """Oracle: round an exact rational to the nearest integer, halves away from zero."""
    magnitude = math.floor(abs(x) + Fraction(1, 2))
    return -magnitude if x < 0 else magnitude


def finite_decimals(*, places: int, bound: int):
    return st.decimals(
        min_value=-bound, max_value=bound, places=places, allow_nan=False, allow_infinity=False
    )


# --- formatting and parsing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_fen", "text"),
    [
        (123450, "¥1,234.50"),
        (0, "¥0.00"),
        (5, "¥0.05"),
        (-5, "-¥0.05"),
        (100000000, "¥1,000,000.00"),
        (-123456789, "-¥1,234,567.89"),
    ],
)
def test_format_fen_shows_yuan_with_symbol_and_grouping(amount_fen, text):
    assert format_fen(amount_fen) == text


def test_wire_format_has_no_symbol_and_no_grouping():
    assert fen_to_yuan_str(123450) == "1234.50"
    assert fen_to_yuan_str(-7) == "-0.07"
    assert format_fen(123450, symbol=False) == "1,234.50"


@given(st.integers())
@example(0)
@example(-1)
@example(-99)
@example(10**30 + 7)
def test_format_then_parse_gives_back_the_same_fen(amount_fen):
    assert parse_yuan(format_fen(amount_fen)) == amount_fen
    assert parse_yuan(format_fen(amount_fen, symbol=False, grouping=False)) == amount_fen
    assert parse_yuan(fen_to_yuan_str(amount_fen)) == amount_fen
    assert parse_yuan(fen_to_decimal(amount_fen)) == amount_fen


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_fen_to_decimal_is_exact(amount_fen):
    assert Fraction(fen_to_decimal(amount_fen)) == Fraction(amount_fen, 100)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.5", 123450),
        ("1234.50", 123450),
        ("¥1,234.50", 123450),
        ("￥1,234.50", 123450),
        ("1,234.50元", 123450),
        ("12元", 1200),
        ("RMB 12.3", 1230),
        ("  -3 ", -300),
        ("-¥0.05", -5),
        ("¥ -0.05", -5),
        ("１２３４．５", 123450),  # full-width digits and point
        ("１，２３４．５０元", 123450),  # full-width comma too
        ("－５", -500),  # full-width minus
        ("0", 0),
    ],
)
def test_parse_yuan_accepts_what_people_type(text, fen):
    assert parse_yuan(text) == fen


def test_parse_yuan_takes_decimals_and_ints_as_yuan():
    assert parse_yuan(Decimal("1.25")) == 125
    assert parse_yuan(Decimal("1.500")) == 150
    assert parse_yuan(Decimal("-0.01")) == -1
    assert parse_yuan(12) == 1200
    # Larger than the default 28-digit Decimal context: still exact, no InvalidOperation.
    assert parse_yuan(Decimal("1E+30")) == 10**32


@pytest.mark.parametrize(
    "text",
    ["1.234", "abc", "", "   ", "¥", "1,23", "12,34.5", "--1", "1.2.3", "1.", ".5", "1e5",
     "١٢", "12 块", "+5"],
)
def test_parse_yuan_refuses_what_is_not_money(text):
    with pytest.raises(MoneyError):
        parse_yuan(text)


@pytest.mark.parametrize("value", [Decimal("1.234"), Decimal("NaN"), Decimal("Infinity"), True])
def test_parse_yuan_refuses_decimals_finer_than_a_fen_and_non_numbers(value):
    with pytest.raises(MoneyError):
        parse_yuan(value)


def test_too_many_decimals_says_why():
    with translation.override("en"):
        with pytest.raises(MoneyError, match="at most two decimal places"):
            parse_yuan("1.234")
        with pytest.raises(MoneyError, match="“abc” is not an amount of money"):
            parse_yuan("abc")


# --- rounding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0.005", 1),
        ("0.0049", 0),
        ("0.00499999", 0),
        ("-0.005", -1),
        ("-0.0049", 0),
        ("0.015", 2),
        ("0.025", 3),  # banker's rounding would give 2
        ("2.675", 268),
        ("-2.675", -268),
        ("1234.5", 123450),
        # 35 significant digits: a plain `* 100` in the 28-digit context would round
        # this up to 0.5 fen first, then HALF_UP to 1 fen — two roundings.
        ("0.00499999999999999999999999999999999", 0),
    ],
)
def test_round_to_fen_is_half_up_once(yuan, fen):
    assert round_to_fen(Decimal(yuan)) == fen


@given(finite_decimals(places=12, bound=10**12))
@example(Decimal("0.005"))
@example(Decimal("-0.005"))
def test_round_to_fen_matches_exact_half_up(amount_yuan):
    assert round_to_fen(amount_yuan) == half_up(Fraction(amount_yuan) * 100)


def test_round_to_fen_refuses_non_decimals_and_non_finite():
    with pytest.raises(TypeError):
        round_to_fen(5)
    with pytest.raises(TypeError):
        round_to_fen("0.5")
    with pytest.raises(MoneyError):
        round_to_fen(Decimal("NaN"))


@given(
    price=finite_decimals(places=4, bound=100_000),
    quantity=finite_decimals(places=6, bound=10**7),
)
@example(price=Decimal("0.5283"), quantity=Decimal("123.45"))
@example(price=Decimal("1.0005"), quantity=Decimal("5"))
def test_price_times_is_the_exact_product_rounded_once(price, quantity):
    with localcontext() as ctx:
        ctx.prec = 100  # wide enough that this product is exact
        exact = price * quantity
    assert price_times(price, quantity) == half_up(Fraction(exact) * 100)
    assert price_times(price, quantity) == half_up(Fraction(price) * Fraction(quantity) * 100)


def test_price_times_does_not_round_the_product_before_the_fen():
    # The exact product is 0.004999…998 yuan (just under half a fen) → 0 fen. In
    # Decimal's default 28-digit context `price * quantity` would first round it to
    # 0.005000… and HALF_UP would then make it 1 fen.
    price, quantity = Decimal("3"), Decimal("0.001666666666666666666666666666666")
    assert price_times(price, quantity) == 0
    assert price_times(Decimal("0.5283"), Decimal("10")) == 528  # 5.283 元 → 5.28
    assert price_times(Decimal("0.5283"), Decimal("10.5")) == 555  # 5.54715 元 → 5.55
    assert price_times(Decimal("2.50"), 3) == 750


# --- splitting -------------------------------------------------------------------------

weights_strategy = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=12,
).filter(lambda ws: sum(ws) > 0)


@given(total_fen=st.integers(min_value=-(10**15), max_value=10**15), weights=weights_strategy)
@example(total_fen=100, weights=[1, 1, 1])
@example(total_fen=-1, weights=[1, 1])
@example(total_fen=1, weights=[0, Decimal("0.0001")])
def test_split_fen_parts_sum_to_total_each_within_a_fen_of_its_share(total_fen, weights):
    parts = split_fen(total_fen, weights)
    assert len(parts) == len(weights)
    assert all(isinstance(p, int) for p in parts)
    assert sum(parts) == total_fen
    weight_sum = sum(Fraction(w) for w in weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total_fen) * Fraction(weight) / weight_sum
        assert abs(part - exact) < 1
        if weight == 0:
            assert part == 0


def test_split_fen_gives_ties_to_earlier_parts_and_keeps_the_sign():
    assert split_fen(100, [1, 1, 1]) == [34, 33, 33]
    assert split_fen(-100, [1, 1, 1]) == [-34, -33, -33]
    assert split_fen(1000, [Decimal("88.50"), Decimal("11.50")]) == [885, 115]
    assert split_fen(5, iter([1, 1])) == [3, 2]  # any iterable, consumed once


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_split_fen_refuses_impossible_weights(weights):
    with pytest.raises(ValueError):
        split_fen(100, weights)


# --- float never passes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: parse_yuan(1.5),
        lambda: format_fen(150.0),
        lambda: fen_to_yuan_str(150.0),
        lambda: fen_to_decimal(150.0),
        lambda: round_to_fen(0.005),
        lambda: price_times(0.5, Decimal("1")),
        lambda: price_times(Decimal("0.5"), 2.0),
        lambda: split_fen(100.0, [1, 1]),
        lambda: split_fen(100, [0.5, 0.5]),
    ],
    ids=["parse_yuan", "format_fen", "fen_to_yuan_str", "fen_to_decimal", "round_to_fen",
         "price_times-price", "price_times-quantity", "split_fen-total", "split_fen-weights"],
)
def test_float_is_refused_everywhere(call):
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize("value", [True, "100", Decimal("100")])
def test_format_fen_takes_only_int_fen(value):
    with pytest.raises(TypeError):
        format_fen(value)


@pytest.mark.parametrize("price, text", [
    (Decimal("2.3000"), "2.30"), (Decimal("300"), "300.00"), (Decimal("0.6250"), "0.625"),
    (Decimal("12.3456"), "12.3456"), ("2.30000000000000", "2.30"), (Decimal("0"), "0.00"),
])
def test_prices_read_as_people_write_them(price, text):
    assert format_price(price) == text


def test_prices_refuse_floats_and_quantities_drop_trailing_zeros():
    with pytest.raises(TypeError):
        format_price(2.3)
    assert [plain_number(q) for q in (Decimal("68.4000"), Decimal("5.0000"), 12)] == [
        "68.4", "5", "12"]
