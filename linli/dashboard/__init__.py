"""Owns the console's home page (dashboard per role: takings, to-dos, cards) and the takings reports.
May use: every domain app, the console's toolkit; a front door like the console (nothing imports it)."""
