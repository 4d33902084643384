"""Django's ``flush`` (empty every table), allowed past the append-only triggers.

On PostgreSQL flush truncates, which the triggers do not refuse (TRUNCATE is a privilege
of its own). SQLite has no TRUNCATE: flush deletes, so it opens the append-only switch
for its own statements (``linli.ledger.append_only``). Django's test runner flushes the
database with this command after each transactional test."""

from django.core.management.commands.flush import Command as DjangoFlush

from linli.ledger.append_only import append_only_unlocked


class Command(DjangoFlush):
    def handle(self, **options):
        with append_only_unlocked(options["database"]):
            return super().handle(**options)
