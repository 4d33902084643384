from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from linli.core.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database and the generated keys into one file (safe while the site runs)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options):
        try:
            manifest = backup(path)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"backed up {manifest['engine']} database and keys {manifest['keys']}: {path}")
