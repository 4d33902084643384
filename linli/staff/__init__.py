"""Owns staff members, roles and permission groups, and scope: which communities a person may see.
May use: estate, core, money."""
