"""Invariants of the estate's personal data (``linli check``)."""

from __future__ import annotations

from linli.core.crypto import mobile_index
from linli.core.invariants import invariant
from linli.estate.models import Person, id_number_index


@invariant("estate.person_blind_indexes",
           "every person's mobile and ID number are found by their blind indexes "
           "(the numbers themselves are encrypted)")
def person_blind_indexes() -> tuple[int, list[str]]:
    checked, violations = 0, []
    people = Person.objects.only("mobile", "mobile_index", "mobile_tail", "id_number",
                                 "id_number_index")
    for person in people.iterator(chunk_size=2000):
        checked += 1
        if (person.mobile_index != mobile_index(person.mobile)
                or person.mobile_tail != person.mobile[-4:]
                or person.id_number_index != id_number_index(person.id_number)):
            violations.append(f"person #{person.pk}: a blind index does not match its number "
                              "(saved without Person.normalise?)")
    return checked, violations
