"""大写金额: the known cases of the banking rules, and properties over any amount."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.receipts.capitals import MAX_FEN, capital_to_fen, fen_to_capital

KNOWN = [
    (0, "零元整"),
    (1, "壹分"),
    (10, "壹角"),
    (11, "壹角壹分"),
    (100, "壹元整"),
    (150, "壹元伍角"),
    (1000, "壹拾元整"),
    (10005, "壹佰元零伍分"),
    (12345, "壹佰贰拾叁元肆角伍分"),
    (100100, "壹仟零壹元整"),
    (168032, "壹仟陆佰捌拾元叁角贰分"),
    (1000000, "壹万元整"),
    (1000500, "壹万零伍元整"),
    (1050000, "壹万零伍佰元整"),
    (1500000, "壹万伍仟元整"),
    (10000000, "壹拾万元整"),
    (15050000, "壹拾伍万零伍佰元整"),
    (100000000, "壹佰万元整"),
    (10000000000, "壹亿元整"),
    (10000500000, "壹亿零伍仟元整"),
    (10001000000, "壹亿零壹万元整"),
    (10000000001, "壹亿元零壹分"),
    (100000000000000, "壹万亿元整"),
    (100000001000000, "壹万亿零壹万元整"),
    (100050000000000, "壹万零伍亿元整"),
    (120000000000000, "壹万贰仟亿元整"),
    (MAX_FEN, "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
]


@pytest.mark.parametrize(("fen", "text"), KNOWN)
def test_known_amounts(fen, text):
    assert fen_to_capital(fen) == text
    assert capital_to_fen(text) == fen


amounts = st.one_of(
    st.integers(min_value=0, max_value=MAX_FEN),
    st.integers(min_value=0, max_value=10**9),
    # Sparse amounts: many zeros, where the 零 rules bite.
    st.lists(st.sampled_from([0, 0, 0, 1, 5, 9]), min_size=1, max_size=18).map(
        lambda digits: int("".join(map(str, digits)))),
)


@given(amounts)
def test_round_trip(fen):
    assert capital_to_fen(fen_to_capital(fen)) == fen


@given(amounts)
def test_shape_follows_the_rules(fen):
    text = fen_to_capital(fen)
    assert re.fullmatch(r"[零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整]+", text)
    assert "零零" not in text
    assert not re.search(r"零[元万亿角分整]", text) or text == "零元整"
    # 拾 always carries its digit (壹拾, never a bare 拾).
    assert not re.search(r"(^|[^壹贰叁肆伍陆柒捌玖])拾", text)
    # 整 exactly when there are no 角 and 分; never after 分.
    assert text.endswith("整") == (fen % 100 == 0)
    assert ("分" in text) == (fen % 10 != 0)
    assert ("角" in text) == (fen // 10 % 10 != 0)


@pytest.mark.parametrize("bad", [-1, MAX_FEN + 1])
def test_out_of_range_is_refused(bad):
    with pytest.raises(ValueError):
        fen_to_capital(bad)


@pytest.mark.parametrize("bad", [1.5, "100", True])
def test_only_integer_fen(bad):
    with pytest.raises(TypeError):
        fen_to_capital(bad)
