"""Linli 邻里 — property-fee billing and collection."""

__version__ = "0.1.0"
