"""Owns the staff console: toolkit (scoped admin, dialogs, html, exports, imports), menu, audit page.
May use: every domain app; domain apps use it only from their admin modules."""
