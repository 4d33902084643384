"""The reports' figures agree with the ledger (`linli check`)."""

from __future__ import annotations

from linli.core.invariants import invariant
from linli.estate.models import Community
from linli.money import format_fen
from linli.reports.ledger_check import agreements

MAX_REPORTED = 50


@invariant("reports.figures_match_ledger",
           "per community and fee item, what the reports say bills still owe equals the "
           "receivable in the ledger, and what they say was charged (less refunds set "
           "aside) equals the revenue net of waivers and discounts (deposits held for a "
           "deposit)")
def figures_match_ledger() -> tuple[int, list[str]]:
    checked, violations = 0, []
    for community_id in Community.objects.values_list("id", flat=True):
        for a in agreements(community_id):
            checked += 1
            if not a.ok:
                violations.append(
                    f"community #{a.community_id}, fee item #{a.fee_item_id}: {a.what} in "
                    f"the reports {format_fen(a.reports_fen)}, in the ledger "
                    f"{format_fen(a.ledger_fen)}")
    return checked, violations[:MAX_REPORTED]
