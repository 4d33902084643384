"""``linli postings``: print the posting rules' table (docs/postings.md)."""

from django.core.management.base import BaseCommand

from linli.ledger.postings import markdown_table


class Command(BaseCommand):
    help = "Print the event → accounts table of the posting rules (Markdown)."

    def handle(self, *args, **options):
        self.stdout.write(markdown_table(), ending="")
