"""Front doors are thin: no view, admin page, management command, console or portal
module opens a transaction, takes a row lock or posts to the ledger. Those belong in
the owning app's services, which the front doors call (DESIGN §11, STYLE "Where logic
lives"). Names are read as code tokens: comments and strings do not count."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import linli

ROOT = Path(linli.__file__).resolve().parent
FORBIDDEN = {"atomic", "select_for_update", "post_entry", "reverse_entry"}

# Current offenders in files other people own; each entry must still offend (delete it
# once the write has moved into a service).
ALLOWED: dict[str, set[str]] = {}  # none: every front door calls a service


def is_front_door(rel: Path) -> bool:
    parts = rel.parts
    if "tests" in parts or "migrations" in parts:
        return False
    if parts[0] in {"console", "portal", "dashboard"}:
        return True
    if parts[-3:-1] == ("management", "commands"):
        return True
    # A page module, or any module of a package of pages (billing/admin/fees.py).
    return any(part.startswith(("views", "admin")) for part in parts[1:])


def front_door_files() -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in ROOT.rglob("*.py")
                  if is_front_door(p.relative_to(ROOT)))


def forbidden_names(source: str) -> set[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.string for t in tokens if t.type == tokenize.NAME and t.string in FORBIDDEN}


def offenders() -> dict[str, set[str]]:
    found = {}
    for rel in front_door_files():
        names = forbidden_names((ROOT / rel).read_text())
        if names:
            found[rel.as_posix()] = names
    return found


def test_front_doors_hold_no_transaction_lock_or_ledger_call():
    assert offenders() == ALLOWED


def test_the_scan_sees_every_kind_of_front_door():
    files = {p.as_posix() for p in front_door_files()}
    assert {"console/views.py", "portal/views_pay.py", "billing/admin/__init__.py",
            "billing/admin/bills.py", "billing/admin/fees.py",
            "counter/views.py", "demo/management/commands/linli_demo.py",
            "bench/management/commands/linli_bench.py"} <= files
    assert not any(f.endswith("services.py") and not f.startswith(("console/", "portal/"))
                   for f in files)


def test_the_scan_reads_code_not_comments_or_strings():
    assert forbidden_names("with transaction.atomic():\n    pass\n") == {"atomic"}
    assert forbidden_names("qs.select_for_update().get()\npost_entry(x=1)\n") == {
        "select_for_update", "post_entry"}
    assert forbidden_names('# post_entry is a service\nx = "atomic"\n') == set()
