"""Identity data of Chinese residents: validation and masking."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def normalise_mobile(value: str) -> str:
    """Strip spaces, dashes and a +86 / 0086 prefix."""
    text = re.sub(r"[\s-]", "", str(value or ""))
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def validate_mobile(value: str) -> None:
    if not MOBILE_RE.match(normalise_mobile(value)):
        raise ValidationError(
            _("“%(value)s” is not a mainland mobile number (11 digits starting with 1)."),
            code="invalid_mobile",
            params={"value": value},
        )


def id_number_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def normalise_id_number(value: str) -> str:
    return re.sub(r"\s", "", str(value or "")).upper()


def validate_id_number(value: str) -> None:
    """An 18-character resident ID: 17 digits, a check character, a real birth date."""
    text = normalise_id_number(value)
    if not re.match(r"^\d{17}[\dX]$", text):
        raise ValidationError(
            _("A resident ID number has 18 characters: 17 digits and a digit or X."),
            code="invalid_id_number",
        )
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        born = None
    if born is None or born.year < 1900 or born > dt.date.today():
        raise ValidationError(
            _("The birth date inside the ID number is not a real date."),
            code="invalid_id_number",
        )
    if id_number_check_char(text[:17]) != text[17]:
        raise ValidationError(
            _("The ID number's check character is wrong; please check for a typo."),
            code="invalid_id_number",
        )


def mask_mobile(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    text = normalise_mobile(value)
    if len(text) != 11:
        return "*" * len(text)
    return f"{text[:3]}****{text[-4:]}"


def mask_id_number(value: str) -> str:
    """``110101199003071234`` → ``110***********1234``."""
    text = normalise_id_number(value)
    if len(text) < 8:
        return "*" * len(text)
    return f"{text[:3]}{'*' * (len(text) - 7)}{text[-4:]}"
