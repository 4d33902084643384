"""Owns owner accounts: who is an owner (access.py), SMS codes, sign-in, sessions, home bindings.
May use: ledger, staff, estate, core, money."""
