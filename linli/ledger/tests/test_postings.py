"""The posting rules: each balances, uses only the accounts it declares, and is the only
place ledger lines are built; the table in docs/postings.md is generated from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linli.ledger import chart, postings
from linli.ledger.services import validate_lines

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(postings.RULES))
def test_rule_balances_and_uses_only_its_accounts(name):
    rule = postings.RULES[name]
    lines = rule.function(**rule.example)
    validate_lines(lines)  # balanced, known accounts, dimensions present
    channel_accounts = set(postings.CHANNEL_ACCOUNT.values())

    def allowed(declared):
        codes = {c for c in declared if c != postings.CHANNEL}
        return codes | (channel_accounts if postings.CHANNEL in declared else set())

    for line in lines:
        declared = rule.debits if line.side == "D" else rule.credits
        assert line.account in allowed(declared), (name, line)


def test_every_account_is_posted_by_some_rule():
    used = set()
    for rule in postings.RULES.values():
        for code in (*rule.debits, *rule.credits):
            used |= (set(postings.CHANNEL_ACCOUNT.values()) if code == postings.CHANNEL
                     else {code})
    unused = set(chart.CHART) - used - getattr(chart, "RETIRED", set())
    assert not unused, f"accounts no rule posts to: {sorted(unused)}"


def test_unbalanced_refund_parts_are_refused():
    with pytest.raises(ValueError):
        postings.refund_approved(unit_id=1, amount_fen=100, bill_lines=[(7, 99, False)],
                                 prepaid_fen=0)


def test_docs_table_is_generated_from_the_rules():
    doc = ROOT / "docs" / "postings.md"
    assert doc.read_text(encoding="utf-8") == postings.markdown_table(), (
        "docs/postings.md is out of date: run `linli postings > docs/postings.md`")


# Ledger lines are built only by the posting rules (and the Line type itself).
LINE_BUILDERS = re.compile(r"\bLine\.(debit|credit)\(|\bLine\(")
ALLOWED = {"linli/ledger/postings.py", "linli/ledger/lines.py"}


def test_no_module_builds_ledger_lines_but_the_posting_rules():
    offenders = []
    for path in sorted((ROOT / "linli").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED or "/tests/" in rel or "/migrations/" in rel:
            continue
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if LINE_BUILDERS.search(text) and "JournalLine(" not in text:
                offenders.append(f"{rel}:{number}: {text.strip()}")
    assert not offenders, "ledger lines built outside ledger/postings.py:\n" + "\n".join(
        offenders)
