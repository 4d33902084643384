"""Every app and every package under ``linli/`` has a place in the import-linter layers
(pyproject.toml, ``[tool.importlinter]``); ``lint-imports`` in .ci/run checks the
imports themselves. An app added without a place fails here, before CI."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

from django.conf import settings

import linli

PYPROJECT = Path(linli.__file__).resolve().parent.parent / "pyproject.toml"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def layer_names(layers: list[str]) -> set[str]:
    """The module names of a layers contract ("a | b" and "a : b" list siblings)."""
    return {name.strip().strip("()") for layer in layers
            for name in layer.replace(":", "|").split("|")}


def unplaced(names, layers: list[str]) -> list[str]:
    return sorted(set(names) - layer_names(layers))


def _linli_children() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(linli.__path__)}


def _installed_linli_apps() -> set[str]:
    return {app.split(".")[1] for app in settings.INSTALLED_APPS if app.startswith("linli.")}


def test_every_linli_app_and_package_has_a_layer():
    contract = _contracts()["layers"]
    assert contract["containers"] == ["linli"] and contract["exhaustive"] is True
    assert unplaced(_installed_linli_apps(), contract["layers"]) == []
    assert unplaced(_linli_children(), contract["layers"]) == []


def test_an_app_without_a_layer_is_reported():
    layers = _contracts()["layers"]["layers"]
    assert unplaced(_installed_linli_apps() | {"newapp"}, layers) == ["newapp"]
    assert {"bench", "demo", "portal", "console", "core", "money"} <= layer_names(layers)


def test_core_is_forbidden_every_other_package():
    """The "core imports no app" contract names every other package under linli/ that
    is not project wiring, so an app added later is forbidden to core too."""
    wiring = {"urls", "wsgi", "cli", "settings", "testing", "core", "money"}
    forbidden = {m.split(".")[1] for m in _contracts()["core-imports-no-app"]["forbidden_modules"]}
    assert _linli_children() - wiring - forbidden == set()
