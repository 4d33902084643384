"""Which communities a person may act in, for the estate's own services (the spreadsheet
import). That rule is the staff app's (``linli.staff.scope.community_ids_for``), and
staff sit above the estate (their scope names communities), so the estate cannot
import it: ``StaffConfig.ready()`` registers it here, the one receiver. With none
registered, every estate write that asks is refused."""

from __future__ import annotations

from collections.abc import Callable

_SCOPE_RULES: list[Callable[[object], frozenset[int]]] = []


def community_scope_register(rule: Callable[[object], frozenset[int]]) -> None:
    """The hook for ``linli.staff``: ``rule(user)`` answers the ids of the communities
    ``user`` works in. Registering the same rule twice changes nothing."""
    if rule not in _SCOPE_RULES:
        _SCOPE_RULES.append(rule)


def community_ids_for(user) -> frozenset[int]:
    if len(_SCOPE_RULES) != 1:
        raise RuntimeError(
            f"expected one community scope rule (linli.staff), found {len(_SCOPE_RULES)}")
    return _SCOPE_RULES[0](user)
