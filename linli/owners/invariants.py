"""Invariants of owner accounts (``linli check``)."""

from __future__ import annotations

from linli.core.crypto import mobile_index
from linli.core.invariants import invariant
from linli.core.validators import MOBILE_RE
from linli.owners.models import OwnerAccount


@invariant("owners.account_numbers",
           "every owner account's number is found by its blind index, and no account is "
           "named by a phone number")
def account_numbers() -> tuple[int, list[str]]:
    checked, violations = 0, []
    for account in OwnerAccount.objects.select_related("user").iterator(chunk_size=2000):
        checked += 1
        if account.mobile_index != mobile_index(account.mobile):
            violations.append(f"owner account #{account.pk}: its blind index does not match")
        if MOBILE_RE.search(account.user.get_username()):
            violations.append(f"owner account #{account.pk}: the username is a phone number")
    return checked, violations
