"""Owns the demo (linli demo, linli paysim): demo estate and data, process supervisor, help page.
May use: every app; no app uses it."""
