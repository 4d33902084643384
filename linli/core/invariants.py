"""A registry of data invariants that `linli check` runs.

Each app declares its own in ``<app>/invariants.py`` with ``@invariant``. A check
returns how many things it looked at and a list of human-readable violations.

Some references are proved here instead of by a database foreign key (bills' and
ledger lines' provenance columns): why, which, and the rules are in
``docs/foreign-keys-in-check.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.module_loading import autodiscover_modules


@dataclass
class CheckResult:
    name: str
    description: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


CheckFn = Callable[[], tuple[int, list[str]]]
_REGISTRY: dict[str, tuple[str, CheckFn]] = {}
logger = logging.getLogger("linli.check")


def invariant(name: str, description: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        _REGISTRY[name] = (description, fn)
        return fn

    return register


def registered() -> dict[str, str]:
    """Name → description of every invariant the installed apps declare."""
    autodiscover_modules("invariants")
    return {name: description for name, (description, _fn) in _REGISTRY.items()}


def run_all(only: list[str] | None = None) -> list[CheckResult]:
    """Run every invariant (or those named in ``only``).

    An unknown name is an error rather than a check that silently passes; a check that
    crashes is reported as broken, so the others still run and the failure is seen.
    """
    names = registered()
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(unknown)}")
    results = []
    for name, (description, fn) in _REGISTRY.items():
        if only and name not in only:
            continue
        started = time.monotonic()
        try:
            checked, violations = fn()
        except Exception as exc:  # a crashed check must not read as a passed one
            logger.exception("invariant %s crashed", name)
            checked, violations = 0, [f"the check itself failed: {type(exc).__name__}: {exc}"]
        results.append(
            CheckResult(name, description, checked, list(violations), time.monotonic() - started)
        )
    return results
