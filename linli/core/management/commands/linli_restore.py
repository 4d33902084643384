from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from linli.core.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup into this new home and empty database."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            manifest = restore(path)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"restored {manifest['engine']} database and keys {manifest['keys']}: {path}")
