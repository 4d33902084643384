"""What billing needs to know from the apps above it, asked through registries they fill.

Billing sits below payments and refunds (DESIGN §11): it must not import them. Where a
bill's state depends on their records, they register a provider here from their
``AppConfig.ready()`` and billing asks the registry.

- ``refunded_fen``: principal refunded (money gone) per bill. A bill's status follows
  what was refunded of it (``billing.services.status``); refunds registers its provider
  in ``refunds/apps.py``.
- ``refund_claims``: bills with a refund approved and set aside but not yet paid out. A
  bill run whose bills such a refund claims is not reversed (the reversal would give a
  prepaid offset back that the refund then pays again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping

# provider(bill_ids) -> {bill_id: fen}; bill_ids None = every bill with a refund.
RefundedFenProvider = Callable[[Collection[int] | None], Mapping[int, int]]

_refunded_fen_providers: list[RefundedFenProvider] = []


def register_refunded_fen(provider: RefundedFenProvider) -> None:
    """Register a provider of refunded fen per bill (once; a repeated ready() is a no-op)."""
    if provider not in _refunded_fen_providers:
        _refunded_fen_providers.append(provider)


def unregister_refunded_fen(provider: RefundedFenProvider) -> None:
    if provider in _refunded_fen_providers:
        _refunded_fen_providers.remove(provider)


def refunded_fen(bill_ids: Collection[int] | None = None) -> dict[int, int]:
    """Principal refunded per bill, summed over every provider (bills without a refund
    are absent). ``bill_ids`` None asks for every bill that has one."""
    ids = None if bill_ids is None else list(bill_ids)
    totals: dict[int, int] = defaultdict(int)
    if ids == []:
        return totals
    for provider in _refunded_fen_providers:
        for bill_id, fen in provider(ids).items():
            if fen:
                totals[bill_id] += fen
    return totals


# provider(bill_ids) -> the bill ids among them that a refund claims.
RefundClaimsProvider = Callable[[Collection[int]], Collection[int]]

_refund_claims_providers: list[RefundClaimsProvider] = []


def register_refund_claims(provider: RefundClaimsProvider) -> None:
    if provider not in _refund_claims_providers:
        _refund_claims_providers.append(provider)


def refund_claims(bill_ids: Collection[int]) -> set[int]:
    """The bills among ``bill_ids`` that a refund set aside and not yet paid claims."""
    ids = list(bill_ids)
    if not ids:
        return set()
    return {bill_id for provider in _refund_claims_providers for bill_id in provider(ids)}
