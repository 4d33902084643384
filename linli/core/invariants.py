"""A registry of data invariants that `linli check` runs.

Each app declares its own in ``<app>/invariants.py`` with ``@invariant``. A check
returns how many things it looked at and a list of human-readable violations.
"""

from __future__ import annotations

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


def invariant(name: str, description: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        _REGISTRY[name] = (description, fn)
        return fn

    return register


def run_all(only: list[str] | None = None) -> list[CheckResult]:
    autodiscover_modules("invariants")
    results = []
    for name, (description, fn) in _REGISTRY.items():
        if only and name not in only:
            continue
        started = time.monotonic()
        checked, violations = fn()
        results.append(
            CheckResult(name, description, checked, list(violations), time.monotonic() - started)
        )
    return results
