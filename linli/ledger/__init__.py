"""Owns the chart of accounts, posting rules (postings.py), the append-only journal, its invariants.
May use: staff, estate, core, money."""
