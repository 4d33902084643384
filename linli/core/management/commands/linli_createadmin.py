from __future__ import annotations

from django.contrib.auth.management.commands.createsuperuser import Command as Base


class Command(Base):
    help = "Create a platform administrator (sees every company and community)."
