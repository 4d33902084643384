"""Owns companies, communities, buildings, units, parking spaces, people, occupancies, estate import.
May use: core, money; staff scope only through the hook staff register (access.py)."""
