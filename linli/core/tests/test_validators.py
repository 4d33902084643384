import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from linli import testing as t
from linli.core.validators import (
    id_number_check_char,
    mask_id_number,
    mask_mobile,
    validate_id_number,
    validate_mobile,
)
from linli.estate.models import Person


@pytest.mark.parametrize("mobile", ["13812345678", "+86 138 1234 5678", "199-1234-5678"])
def test_valid_mobiles(mobile):
    validate_mobile(mobile)


@pytest.mark.parametrize("mobile", ["12812345678", "1381234567", "138123456789", "", "abc"])
def test_invalid_mobiles(mobile):
    with pytest.raises(ValidationError):
        validate_mobile(mobile)


def test_known_id_number_checksum():
    # The GB 11643 worked example: 11010519491231002X.
    assert id_number_check_char("11010519491231002") == "X"
    validate_id_number("11010519491231002X")
    validate_id_number("11010519491231002x")  # lower-case x is accepted


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310021",  # wrong check character
        "11010519491331002X",  # month 13
        "1101051949123100",  # too short
        "11010520991231002X",  # born in the future
    ],
)
def test_invalid_id_numbers(value):
    with pytest.raises(ValidationError):
        validate_id_number(value)


def test_masks():
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_id_number("110101199003071234") == "110***********1234"


@pytest.mark.django_db
def test_id_number_is_encrypted_at_rest_and_found_by_blind_index(estate):
    person = t.make_person(estate["a1"], name="李四")
    plain = Person.objects.get(pk=person.pk).id_number
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number FROM estate_person WHERE id = %s", [person.pk])
        stored = cursor.fetchone()[0]
    assert plain and plain not in stored and len(stored) > 60
    assert Person.objects.filter(id_number_index=person.id_number_index).get() == person
    assert person.id_number_masked == mask_id_number(plain)
