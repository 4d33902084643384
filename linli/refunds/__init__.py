"""Owns refund policy, requests, approvals, payouts by the original route, vouchers.
May use: receipts, payments and below."""
