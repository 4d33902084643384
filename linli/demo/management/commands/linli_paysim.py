"""``linli paysim [--port P] [--home DIR] [--time-scale X]``: run the local WeChat Pay
and Alipay simulators (not real money) on 127.0.0.1 — what ``linli demo`` starts for
the demo communities' merchant accounts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from linli.paysim.server import main


class Command(BaseCommand):
    help = "Run the local payment-gateway simulators (WeChat Pay v3, Alipay), not real money."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")

    def run_from_argv(self, argv):
        # Everything after ``linli paysim`` belongs to the simulator's own parser.
        main(argv[2:])
