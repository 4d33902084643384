"""`linli check`: finds what raw SQL did to the ledger, passes a clean one."""

from __future__ import annotations

import io
import logging
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from linli.core import invariants
from linli.core.tasks import run_invariants_and_log
from linli.ledger import chart
from linli.ledger.append_only import append_only_unlocked
from linli.ledger.services import Line, post_entry

pytestmark = pytest.mark.django_db

LEDGER_CHECKS = ["ledger.entries_balance", "ledger.lines_valid", "ledger.digests",
                 "ledger.trial_balance"]

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="on PostgreSQL the database refuses the raw UPDATE this test needs",
)


def run_check(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("linli_check", *args, stdout=out, no_color=True)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def status_of(output: str, check: str) -> tuple[str, int]:
    match = re.search(rf"^(ok|FAIL)\s+{re.escape(check)}\s+(\d+) checked", output, re.M)
    assert match, f"{check} missing from:\n{output}"
    return match[1], int(match[2])


def sql(statement: str, params) -> None:
    """Raw SQL past the append-only triggers (SQLite's switch: corrupting on purpose)."""
    with append_only_unlocked(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def two_entries(estate):
    a1, unit = estate["a1"], estate["a1_unit"]
    bill = post_entry(community_id=a1.pk, business_key="bill:1:issue", kind="bill_issue", lines=[
        Line.debit(chart.RECEIVABLE, 30000, unit_id=unit.pk),
        Line.credit(chart.REVENUE, 30000, fee_item_id=11),
    ])
    payment = post_entry(community_id=a1.pk, business_key="pay:1", kind="payment", lines=[
        Line.debit(chart.CLEARING_ALIPAY, 10000),
        Line.credit(chart.RECEIVABLE, 10000, unit_id=unit.pk),
    ])
    return bill, payment


def test_a_clean_ledger_passes_and_counts_what_it_checked(two_entries):
    code, out = run_check("--only", *LEDGER_CHECKS)
    assert code == 0, out
    assert status_of(out, "ledger.entries_balance") == ("ok", 2)
    assert status_of(out, "ledger.lines_valid") == ("ok", 4)
    assert status_of(out, "ledger.digests") == ("ok", 2)
    assert status_of(out, "ledger.trial_balance") == ("ok", 1)  # one community
    assert "linli check: all 4 checks passed (9 items checked)" in out


def test_an_empty_database_passes_every_check():
    code, out = run_check()
    assert code == 0, out
    assert "FAIL" not in out
    assert re.search(r"linli check: all \d+ checks passed", out)


@sqlite_only
def test_a_line_amount_changed_by_raw_sql_is_found(two_entries):
    bill, payment = two_entries
    sql("UPDATE ledger_journalline SET amount_fen = amount_fen + 1 "
        "WHERE entry_id = %s AND side = 'D'", [bill.pk])

    code, out = run_check()
    assert code == 1
    assert status_of(out, "ledger.entries_balance")[0] == "FAIL"
    assert status_of(out, "ledger.digests")[0] == "FAIL"
    assert status_of(out, "ledger.trial_balance")[0] == "FAIL"
    assert f"entry #{bill.pk}: debits 30001 fen, credits 30000 fen, 2 line(s)" in out
    assert f"entry #{bill.pk}: lines were altered after posting" in out
    assert f"community #{bill.community_id}: debits 40001 fen ≠ credits 40000 fen" in out
    assert f"entry #{payment.pk}" not in out
    assert "checks FAILED" in out


@sqlite_only
def test_a_change_that_keeps_the_entry_balanced_is_caught_by_the_digest(two_entries):
    bill, payment = two_entries
    sql("UPDATE ledger_journalline SET amount_fen = amount_fen + 500 WHERE entry_id = %s",
        [payment.pk])

    code, out = run_check("--only", *LEDGER_CHECKS)
    assert code == 1
    assert status_of(out, "ledger.entries_balance")[0] == "ok"
    assert status_of(out, "ledger.trial_balance")[0] == "ok"
    assert status_of(out, "ledger.digests")[0] == "FAIL"
    assert f"entry #{payment.pk}: lines were altered after posting" in out
    assert f"entry #{bill.pk}" not in out


@sqlite_only
def test_an_entry_moved_to_another_community_is_caught(two_entries, estate):
    bill, _payment = two_entries
    a2 = estate["a2"]
    sql("UPDATE ledger_journalentry SET community_id = %s WHERE id = %s", [a2.pk, bill.pk])
    sql("UPDATE ledger_journalline SET community_id = %s WHERE entry_id = %s", [a2.pk, bill.pk])

    code, out = run_check("--only", *LEDGER_CHECKS)
    assert code == 1
    assert f"entry #{bill.pk}: lines were altered after posting" in out
    # The receivable line now names a unit of another community.
    assert status_of(out, "ledger.lines_valid")[0] == "FAIL"
    assert "is in another community" in out


@sqlite_only
def test_a_line_inserted_by_raw_sql_without_its_dimension_is_found(two_entries):
    bill, _payment = two_entries
    sql("INSERT INTO ledger_journalline (entry_id, account, side, amount_fen, community_id) "
        "VALUES (%s, %s, 'C', 5, %s)", [bill.pk, chart.PREPAID, bill.community_id])

    code, out = run_check("--only", *LEDGER_CHECKS)
    assert code == 1
    assert status_of(out, "ledger.lines_valid")[0] == "FAIL"
    assert f"of entry #{bill.pk}: account '{chart.PREPAID}'" in out


def test_an_unknown_check_name_is_an_error_not_a_pass():
    with pytest.raises(CommandError, match="unknown check"):
        call_command("linli_check", "--only", "ledger.no_such_check", stdout=io.StringIO())


def test_a_check_that_crashes_fails_the_run(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    invariants.registered()  # discover first, so the stand-in is not overwritten
    monkeypatch.setitem(invariants._REGISTRY, "test.broken", ("a check that crashes", broken))
    code, out = run_check()
    assert code == 1
    assert status_of(out, "test.broken")[0] == "FAIL"
    assert "the check itself failed: RuntimeError: boom" in out


@pytest.fixture
def check_log(caplog):
    # "linli" loggers do not propagate to the root, where caplog listens.
    logger = logging.getLogger("linli.check")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="linli.check")
    yield caplog
    logger.removeHandler(caplog.handler)


@sqlite_only
def test_nightly_job_logs_critical_when_the_ledger_is_broken(two_entries, check_log):
    bill, _payment = two_entries
    sql("UPDATE ledger_journalline SET amount_fen = 1 WHERE entry_id = %s AND side = 'C'",
        [bill.pk])

    assert run_invariants_and_log() is False
    critical = [r.getMessage() for r in check_log.records if r.levelno == logging.CRITICAL]
    assert any(f"ledger.entries_balance: entry #{bill.pk}" in m for m in critical), critical
    assert any("checks FAILED" in m for m in critical)


def test_nightly_job_logs_no_critical_on_a_clean_database(check_log):
    assert run_invariants_and_log() is True
    assert not [r for r in check_log.records if r.levelno >= logging.ERROR]
    assert any("checks passed" in r.getMessage() for r in check_log.records)
