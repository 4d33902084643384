"""Linli 邻里 — property-fee billing and collection.

The apps are layered (README "Code structure"; contracts in pyproject.toml,
``[tool.importlinter]``); each app's ``__init__`` says what it owns and may use."""

__version__ = "0.1.0"
