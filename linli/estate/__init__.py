"""Owns companies, communities, buildings, units, parking spaces, people, occupancies, estate import.
May use: core, money (the import also staff scope: TODO issue 15)."""
