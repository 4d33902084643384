"""Posting: balanced or refused, idempotent by business key, reversible."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from linli import testing as t
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.ledger.selectors import (
    account_balance,
    balances_by_fee_item,
    balances_by_unit,
    trial_balance,
)
from linli.ledger.services import Line, PostingError, post_entry, reverse_entry

pytestmark = pytest.mark.django_db

FEE_PROPERTY, FEE_PARKING = 11, 12


def issue(unit, amount_fen, fee_item):
    return [
        Line.debit(chart.RECEIVABLE, amount_fen, unit_id=unit.pk),
        Line.credit(chart.REVENUE, amount_fen, fee_item_id=fee_item),
    ]


def pay(unit, amount_fen, channel=chart.CLEARING_WECHAT):
    return [
        Line.debit(channel, amount_fen),
        Line.credit(chart.RECEIVABLE, amount_fen, unit_id=unit.pk),
    ]


def assert_nothing_posted():
    assert JournalEntry.objects.count() == 0
    assert JournalLine.objects.count() == 0


def test_balanced_entries_give_balances_per_account_unit_and_fee_item(estate, post):
    a1, unit = estate["a1"], estate["a1_unit"]
    other_unit = t.make_unit(a1)
    post(a1, "bill:1:issue", issue(unit, 30000, FEE_PROPERTY), kind="bill_issue",
         effective_on=dt.date(2026, 1, 1))
    post(a1, "bill:2:issue", issue(unit, 5000, FEE_PARKING), kind="bill_issue")
    post(a1, "bill:3:issue", issue(other_unit, 12345, FEE_PROPERTY), kind="bill_issue")
    post(a1, "pay:1", pay(unit, 20000), kind="payment")
    # Another community's movements never show in a1's balances.
    post(estate["a2"], "bill:4:issue", issue(estate["a2_unit"], 99900, FEE_PROPERTY))

    assert account_balance(account=chart.RECEIVABLE, community_id=a1.pk, unit_id=unit.pk) == 15000
    assert account_balance(account=chart.RECEIVABLE, community_id=a1.pk) == 27345
    assert account_balance(account=chart.RECEIVABLE) == 27345 + 99900
    assert balances_by_unit(account=chart.RECEIVABLE, community_id=a1.pk) == {
        unit.pk: 15000,
        other_unit.pk: 12345,
    }
    # Income is credit-normal: revenue shows positive.
    assert balances_by_fee_item(account=chart.REVENUE, community_id=a1.pk) == {
        FEE_PROPERTY: 42345,
        FEE_PARKING: 5000,
    }
    assert account_balance(
        account=chart.REVENUE, community_id=a1.pk, fee_item_id=FEE_PROPERTY
    ) == 42345
    assert account_balance(account=chart.CLEARING_WECHAT, community_id=a1.pk) == 20000
    assert account_balance(account=chart.CASH, community_id=a1.pk) == 0

    tb = trial_balance(community_id=a1.pk)
    assert tb == {
        chart.CLEARING_WECHAT: {"debit_fen": 20000, "credit_fen": 0},
        chart.RECEIVABLE: {"debit_fen": 47345, "credit_fen": 20000},
        chart.REVENUE: {"debit_fen": 0, "credit_fen": 47345},
    }
    assert sum(r["debit_fen"] for r in tb.values()) == sum(r["credit_fen"] for r in tb.values())

    entry = JournalEntry.objects.get(business_key="bill:1:issue")
    assert entry.effective_on == dt.date(2026, 1, 1)
    assert entry.kind == "bill_issue"
    assert [(ln.account, ln.side, ln.amount_fen, ln.community_id, ln.unit_id, ln.fee_item_ref)
            for ln in entry.lines.all()] == [
        (chart.RECEIVABLE, "D", 30000, a1.pk, unit.pk, None),
        (chart.REVENUE, "C", 30000, a1.pk, None, FEE_PROPERTY),
    ]


def test_prepaid_liability_balance_is_positive_when_we_hold_money(estate, post):
    a1, unit = estate["a1"], estate["a1_unit"]
    post(a1, "deposit:1", [
        Line.debit(chart.CASH, 50000),
        Line.credit(chart.PREPAID, 50000, unit_id=unit.pk),
    ])
    assert account_balance(account=chart.PREPAID, community_id=a1.pk, unit_id=unit.pk) == 50000
    assert account_balance(account=chart.CASH, community_id=a1.pk) == 50000


def test_unbalanced_entry_is_refused_and_nothing_is_written(estate, post):
    unit = estate["a1_unit"]
    with translation.override("en"), pytest.raises(
        PostingError, match="debits 10000 fen, credits 9999 fen"
    ):
        post(estate["a1"], "bill:1:issue", [
            Line.debit(chart.RECEIVABLE, 10000, unit_id=unit.pk),
            Line.credit(chart.REVENUE, 9999, fee_item_id=FEE_PROPERTY),
        ])
    assert_nothing_posted()


def test_a_single_line_is_refused(estate, post):
    with pytest.raises(PostingError):
        post(estate["a1"], "k", [Line.debit(chart.CASH, 0 + 1)])
    assert_nothing_posted()


@pytest.mark.parametrize("amount_fen", [0, -100])
def test_zero_or_negative_amount_is_refused(estate, post, amount_fen):
    # Balanced, so only the amount rule can refuse it.
    with translation.override("en"), pytest.raises(PostingError, match="greater than zero"):
        post(estate["a1"], "k", [
            Line.debit(chart.CASH, amount_fen),
            Line.credit(chart.BANK, amount_fen),
        ])
    assert_nothing_posted()


@pytest.mark.parametrize("amount", [100.0, True, "100"])
def test_amount_that_is_not_whole_fen_is_refused(estate, post, amount):
    with pytest.raises(PostingError):
        post(estate["a1"], "k", [Line.debit(chart.CASH, amount), Line.credit(chart.BANK, amount)])
    assert_nothing_posted()


def test_unknown_account_is_refused(estate, post):
    with translation.override("en"), pytest.raises(PostingError, match="Unknown account 9999"):
        post(estate["a1"], "k", [Line.debit("9999", 100), Line.credit(chart.CASH, 100)])
    assert_nothing_posted()


def test_a_side_other_than_debit_or_credit_is_refused(estate, post):
    with pytest.raises(PostingError):
        post(estate["a1"], "k", [Line(chart.CASH, "X", 100), Line.credit(chart.BANK, 100)])
    assert_nothing_posted()


@pytest.mark.parametrize("account", [chart.RECEIVABLE, chart.PREPAID, chart.DEPOSITS_HELD])
def test_per_unit_accounts_refuse_a_line_without_unit(estate, post, account):
    with translation.override("en"), pytest.raises(PostingError, match="needs a unit"):
        post(estate["a1"], "k", [Line.debit(chart.CASH, 100), Line.credit(account, 100)])
    assert_nothing_posted()


@pytest.mark.parametrize("account", [chart.REVENUE, chart.WAIVERS, chart.DISCOUNTS])
def test_per_fee_item_accounts_refuse_a_line_without_fee_item(estate, post, account):
    unit = estate["a1_unit"]
    with translation.override("en"), pytest.raises(PostingError, match="needs a fee item"):
        post(estate["a1"], "k", [
            Line.debit(chart.RECEIVABLE, 100, unit_id=unit.pk),
            Line.credit(account, 100),
        ])
    assert_nothing_posted()


def test_a_unit_of_another_community_is_refused(estate, post):
    with pytest.raises(PostingError):
        post(estate["a1"], "k", issue(estate["b1_unit"], 100, FEE_PROPERTY))
    assert_nothing_posted()


@pytest.mark.parametrize("key", ["", "   ", "x" * 121])
def test_business_key_must_be_present_and_fit(estate, post, key):
    with pytest.raises(PostingError):
        post(estate["a1"], key, issue(estate["a1_unit"], 100, FEE_PROPERTY))
    assert_nothing_posted()


def test_same_business_key_twice_returns_the_first_entry(estate, post):
    a1, unit = estate["a1"], estate["a1_unit"]
    first = post(a1, "bill:1:issue", issue(unit, 30000, FEE_PROPERTY))
    # Same lines in another order are the same posting.
    again = post(a1, "bill:1:issue", list(reversed(issue(unit, 30000, FEE_PROPERTY))))
    assert again.pk == first.pk
    assert JournalEntry.objects.filter(business_key="bill:1:issue").count() == 1
    assert JournalLine.objects.filter(entry=first).count() == 2
    assert account_balance(account=chart.RECEIVABLE, unit_id=unit.pk) == 30000


@pytest.mark.parametrize(
    "change",
    ["amount", "unit", "fee_item", "community-and-unit", "kind"],
)
def test_same_business_key_with_a_different_posting_is_refused(estate, post, change):
    a1, unit = estate["a1"], estate["a1_unit"]
    post(a1, "bill:1:issue", issue(unit, 30000, FEE_PROPERTY), kind="bill_issue")
    community, lines, kind = a1, issue(unit, 30000, FEE_PROPERTY), "bill_issue"
    if change == "amount":
        lines = issue(unit, 30001, FEE_PROPERTY)
    elif change == "unit":
        lines = issue(t.make_unit(a1), 30000, FEE_PROPERTY)
    elif change == "fee_item":
        lines = issue(unit, 30000, FEE_PARKING)
    elif change == "community-and-unit":
        community, lines = estate["a2"], issue(estate["a2_unit"], 30000, FEE_PROPERTY)
    else:
        kind = "bill_waive"
    with translation.override("en"), pytest.raises(PostingError, match="already posted"):
        post(community, "bill:1:issue", lines, kind=kind)
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 2


def test_same_business_key_in_another_community_is_refused_even_with_equal_lines(
    estate, post
):
    lines = [Line.debit(chart.BANK, 500), Line.credit(chart.CASH, 500)]
    post(estate["a1"], "deposit-cash:1", lines)
    with pytest.raises(PostingError):
        post(estate["a2"], "deposit-cash:1", lines)
    assert account_balance(account=chart.BANK, community_id=estate["a2"].pk) == 0
    assert JournalEntry.objects.count() == 1


def test_memos_written_by_the_system_are_in_the_books_language(estate, post):
    entry = post(estate["a1"], "bill:1:issue", issue(estate["a1_unit"], 100, FEE_PROPERTY))
    with translation.override("en"):  # posted from a request in English
        reversal = reverse_entry(entry=entry)
    assert reversal.memo == f"冲销 #{entry.pk}"


def test_reversal_mirrors_the_lines_and_brings_balances_back(estate, post):
    a1, unit = estate["a1"], estate["a1_unit"]
    entry = post(a1, "bill:1:issue", issue(unit, 30000, FEE_PROPERTY), kind="bill_issue")
    reversal = reverse_entry(entry=entry, memo="bill cancelled")

    assert reversal.pk != entry.pk
    assert reversal.reverses_id == entry.pk
    assert reversal.community_id == a1.pk
    assert reversal.memo == "bill cancelled"
    assert reversal.kind == "reversal:bill_issue"
    assert (entry.kind_label, reversal.kind_label) == ("出账", "冲销：出账")  # in words
    mirrored = sorted(
        (ln.account, ln.side, ln.amount_fen, ln.unit_id, ln.fee_item_ref)
        for ln in reversal.lines.all()
    )
    assert mirrored == [
        (chart.RECEIVABLE, "C", 30000, unit.pk, None),
        (chart.REVENUE, "D", 30000, None, FEE_PROPERTY),
    ]
    assert account_balance(account=chart.RECEIVABLE, unit_id=unit.pk) == 0
    assert balances_by_fee_item(account=chart.REVENUE, community_id=a1.pk) == {FEE_PROPERTY: 0}
    # The original is untouched: a reversal is a new entry, not an edit.
    assert JournalLine.objects.filter(entry=entry).count() == 2


def test_reversing_twice_returns_the_first_reversal(estate, post):
    entry = post(estate["a1"], "bill:1:issue", issue(estate["a1_unit"], 30000, FEE_PROPERTY))
    first = reverse_entry(entry=entry)
    again = reverse_entry(entry=JournalEntry.objects.get(pk=entry.pk))
    assert again.pk == first.pk
    assert JournalEntry.objects.count() == 2
    assert account_balance(account=chart.RECEIVABLE, unit_id=estate["a1_unit"].pk) == 0


def test_a_reversal_is_not_reversed(estate, post):
    entry = post(estate["a1"], "bill:1:issue", issue(estate["a1_unit"], 30000, FEE_PROPERTY))
    reversal = reverse_entry(entry=entry)
    with pytest.raises(PostingError):
        reverse_entry(entry=reversal)
    assert JournalEntry.objects.count() == 2


def test_entries_with_long_keys_get_their_own_reversals(estate, post):
    # Keys of full length that differ only at the end: cutting "reversal:" + key to
    # 120 characters would give both the same reversal key.
    a1, unit = estate["a1"], estate["a1_unit"]
    prefix = "bill:" + "9" * 113
    first = post(a1, prefix + ":1", issue(unit, 100, FEE_PROPERTY))
    second = post(a1, prefix + ":2", issue(unit, 100, FEE_PROPERTY))
    assert len(first.business_key) == 120
    r1, r2 = reverse_entry(entry=first), reverse_entry(entry=second)
    assert r1.pk != r2.pk
    assert (r1.reverses_id, r2.reverses_id) == (first.pk, second.pk)
    assert account_balance(account=chart.RECEIVABLE, unit_id=unit.pk) == 0


def test_post_entry_records_who_posted(estate):
    user = t.make_staff(estate["company_a"], "finance", communities=[estate["a1"]])
    entry = post_entry(
        community_id=estate["a1"].pk, business_key="k", kind="test", posted_by=user,
        lines=issue(estate["a1_unit"], 100, FEE_PROPERTY), memo="m" * 300,
    )
    entry.refresh_from_db()
    assert entry.posted_by_id == user.pk
    assert len(entry.memo) == 255
