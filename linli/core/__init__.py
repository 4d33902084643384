"""Owns what all apps share: audit log, data crypto, validators, invariant registry, bulk writes.
May use: linli.money only — no domain app (contracts: pyproject.toml [tool.importlinter])."""
