"""Amounts in Chinese capital numerals (大写金额), as written on receipts and cheques.

The rules of the People's Bank of China for writing amounts: 壹贰叁… with 拾佰仟万亿;
"整" after 元 when there are no 角 and 分 (none after 角 or 分); 拾 always has its digit
(壹拾, not 拾); one 零 stands for any run of zeros inside the number, and for the zero
角 between 元 and 分 (壹佰元零伍分). Of the zeros the rules leave optional, this writes
the one before a group that does not fill its thousands (壹万零伍元, 壹亿零伍仟元) and
none between 元 and a non-zero 角 (壹拾元伍角).

``capital_to_fen`` reads such text back; it exists to prove the writer (round trip).
"""

from __future__ import annotations

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿", "万亿")
MAX_FEN = 10**16 * 100 - 1  # below 亿亿 yuan


def fen_to_capital(amount_fen: int) -> str:
    """12345 → "壹佰贰拾叁元肆角伍分"; 0 → "零元整"; 10005 → "壹佰元零伍分"."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise TypeError("amount_fen must be an int")
    if not 0 <= amount_fen <= MAX_FEN:
        raise ValueError(f"amount out of range: {amount_fen}")
    yuan, rest = divmod(amount_fen, 100)
    jiao, fen = divmod(rest, 10)
    if amount_fen == 0:
        return "零元整"
    text = _integer(yuan) + "元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    elif fen and yuan:
        text += "零"
    if fen:
        text += DIGITS[fen] + "分"
    if not jiao and not fen:
        text += "整"
    return text


def _integer(n: int) -> str:
    groups = []
    while n:
        n, group = divmod(n, 10000)
        groups.append(group)
    text, zero_pending = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero_pending = bool(text)
            continue
        if text and (zero_pending or group < 1000):
            text += "零"
        unit = GROUP_UNITS[index]
        if index == 3 and groups[2]:
            unit = "万"  # 壹万贰仟亿, but 壹万亿 when the 亿 group is empty
        text += _group(group) + unit
        zero_pending = False
    return text


def _group(n: int) -> str:
    """1..9999 without leading zeros: 1005 → 壹仟零伍, 10 → 壹拾."""
    text, zero_pending = "", False
    for position in range(3, -1, -1):
        digit = n // 10**position % 10
        if digit == 0:
            zero_pending = bool(text)
            continue
        if zero_pending:
            text += "零"
        text += DIGITS[digit] + SMALL_UNITS[position]
        zero_pending = False
    return text


# --- reading back ----------------------------------------------------------------------


def capital_to_fen(text: str) -> int:
    """The inverse of ``fen_to_capital`` (for tests and checks)."""
    rest = text.removesuffix("整")
    yuan = 0
    if "元" in rest:
        head, rest = rest.split("元", 1)
        yuan = _read_integer(head)
    rest = rest.removeprefix("零")
    jiao = fen = 0
    if "角" in rest:
        head, rest = rest.split("角", 1)
        jiao = _digit(head)
    if "分" in rest:
        head, rest = rest.split("分", 1)
        fen = _digit(head)
    if rest:
        raise ValueError(f"unexpected text: {rest!r}")
    return yuan * 100 + jiao * 10 + fen


def _digit(text: str) -> int:
    if len(text) != 1 or text not in DIGITS:
        raise ValueError(f"not a digit: {text!r}")
    return DIGITS.index(text)


def _read_integer(text: str) -> int:
    if "亿" in text:
        head, tail = text.rsplit("亿", 1)
        return _read_integer(head) * 10**8 + _read_integer(tail)
    if "万" in text:
        head, tail = text.split("万", 1)
        return _read_integer(head) * 10**4 + _read_integer(tail)
    total, digit = 0, None
    for char in text:
        if char in DIGITS:
            digit = DIGITS.index(char)
        elif char in "拾佰仟":
            if digit is None:
                raise ValueError(f"unit without a digit in {text!r}")
            total += digit * 10 ** ("拾佰仟".index(char) + 1)
            digit = None
        else:
            raise ValueError(f"unexpected character {char!r}")
    return total + (digit or 0)
