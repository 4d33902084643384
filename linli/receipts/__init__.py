"""Owns receipts: numbering per community and year, the PDF, the public verify page.
May use: payments and below (issues receipts through the hook payments exposes)."""
