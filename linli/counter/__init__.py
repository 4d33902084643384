"""Owns the counter desk (前台收费): taking payments and prepaid deposits at the counter,
QR payment for a unit, the cashier's 交班表 (shift takings: every cash movement in and out,
refunds included) and the invariant that it agrees with the ledger. No models of its own.
May use: refunds, payments, billing, estate, ledger, staff, core, money."""
