"""Owns the owner portal's pages (/m/): a thin front door onto the domain apps' services.
May use: every domain app; no domain app uses it."""
