"""A report for a past date never changes; a refund on one fee item leaves the other's row
alone (R7); the figures agree with the ledger, and `linli check` says when they do not."""

from __future__ import annotations

import datetime as dt

import pytest

from linli.billing.models import BillAdjustment
from linli.core.invariants import run_all
from linli.ledger import postings
from linli.ledger.services import post_entry
from linli.reports import rates
from linli.reports.ledger_check import agreements
from linli.reports.scope import Scope, Window
from linli.reports.tests.fixture import at, build

pytestmark = pytest.mark.django_db

D = dt.date(2026, 1, 31)
YEAR = Window.months("2025-12", "2026-03")


def snapshot(scope: Scope) -> dict:
    return {
        "by item": rates.figures_by(scope, YEAR, D, ("community", "building", "fee_item")),
        "by building": rates.figures_by(scope, Window.month("2026-01"), D, ("building",)),
        "months": rates.by_month(scope, YEAR, D),
        "aging": rates.aging(scope, D, ("unit",)),
    }


def test_a_report_for_a_past_date_gives_the_same_figures_after_later_events():
    e = build()
    scope = Scope(frozenset({e.community.pk}))
    with at("2026-02-01"):
        before = snapshot(scope)
    with at("2026-02-03"):
        e.pay("U2", [e.bill("U2", "parking", "2026-01")], 3000)
        e.adjust(e.bill("U3", "property", "2026-01"), BillAdjustment.Kind.WAIVER, 4000)
        e.refund("U3", e.u3_advance, e.bill("U3", "parking", "2026-03"), 5000)
        e.issue("2026-02")
        after_events = snapshot(scope)
    assert after_events == before
    # …while the same report as of today does see them
    today = rates.collection_rate(scope, Window.month("2026-01"), dt.date(2026, 2, 3))
    assert today.charged_fen == 43000 - 4000 and today.paid_fen == 25000 + 3000


def test_a_refund_on_one_fee_item_changes_no_other_items_row():
    e = build()
    scope = Scope(frozenset({e.community.pk}))
    march = Window.month("2026-03")
    day = dt.date(2026, 2, 3)
    with at("2026-02-02"):
        before = rates.figures_by(scope, march, day, ("fee_item",))
    with at("2026-02-03"):
        e.refund("U3", e.u3_advance, e.bill("U3", "property", "2026-03"), 10000)
    after = rates.figures_by(scope, march, day, ("fee_item",))
    parking, prop = (e.parking.pk,), (e.property.pk,)
    assert after[parking] == before[parking]
    assert after[prop].refunded_fen == before[prop].refunded_fen + 10000
    assert after[prop].collected_fen == before[prop].collected_fen - 10000


def test_receivable_and_revenue_per_fee_item_equal_the_ledger():
    e = build()
    found = agreements(e.community.pk)
    assert {a.what for a in found} == {"receivable", "revenue"}
    assert all(a.ok for a in found), [a for a in found if not a.ok]
    receivable = {a.fee_item_id: a.reports_fen for a in found if a.what == "receivable"}
    # property: U2 Dec, U3 Jan, U1 and U2 March; parking: U3 Dec, U2 Jan 30.00, U3 Jan,
    # U1 and U2 March
    assert receivable == {e.property.pk: 40000, e.parking.pk: 5000 + 3000 + 5000 + 10000}
    # as of a past date too (receivable)
    assert all(a.ok for a in agreements(e.community.pk, as_of=dt.date(2026, 1, 10)))
    [result] = run_all(["reports.figures_match_ledger"])
    assert result.ok and result.checked == 4


def test_linli_check_fails_when_the_ledger_and_the_figures_part():
    e = build()
    bill = e.bill("U3", "parking", "2025-12")
    # A waiver posted to the ledger with no adjustment behind it.
    post_entry(community_id=e.community.pk, business_key="test:stray-waiver", kind="bill_waiver",
               lines=postings.bill_waived(unit_id=bill.unit_id, fee_item_id=bill.fee_item_id,
                                          amount_fen=700))
    [result] = run_all(["reports.figures_match_ledger"])
    assert not result.ok
    # parking's receivable (50.00 owed, 43.00 in the ledger) and its revenue
    assert sorted(result.violations) == sorted([
        f"community #{e.community.pk}, fee item #{e.parking.pk}: receivable in the reports "
        "¥230.00, in the ledger ¥223.00",
        f"community #{e.community.pk}, fee item #{e.parking.pk}: revenue in the reports "
        "¥380.00, in the ledger ¥373.00",
    ])
