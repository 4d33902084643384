"""Owns fee items, standards, meter readings, bill runs, bills, adjustments, late fees.
May use: ledger, staff, estate, core, money."""
