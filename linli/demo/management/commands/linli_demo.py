"""``linli demo [--no-serve] [--port P]``: create the database, load the demo data, then
serve the web site and the background worker together until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.translation import gettext as _

from linli.core.serve import gunicorn_argv
from linli.demo.data import DEMO_PASSWORD, DemoRefused, DemoSummary, load_demo
from linli.demo.payments import provision_demo_merchants
from linli.demo.serve import (
    Child,
    ChildExited,
    NotReady,
    StopRequested,
    Supervisor,
    child_env,
    port_is_free,
    wait_until_ready,
)

HOST = "127.0.0.1"


class Command(BaseCommand):
    help = "Create the database, load the demo data, then run the web server and the worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-serve", action="store_true", help="stop after loading the demo data"
        )
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", 8000)),
            help="web server port (default 8000, or $PORT)",
        )
        parser.add_argument(
            "--paysim-port", type=int, default=None,
            help="port of the local payment simulators (default: web port + 100)",
        )

    def handle(self, *args, no_serve: bool = False, port: int = 8000,
               paysim_port: int | None = None, **options):
        paysim_port = paysim_port or port + 100
        self.portal_url = f"http://{HOST}:{port}/m/"
        self.codes_url = f"http://{HOST}:{port}/m/account/demo-codes/"
        if not no_serve:
            for p, option in ((port, "--port"), (paysim_port, "--paysim-port")):
                if not port_is_free(HOST, p):
                    raise CommandError(
                        _("Port %(port)d is already in use; choose another with %(option)s.")
                        % {"port": p, "option": option}
                    )
        self.stdout.write(_("Data folder: %(path)s") % {"path": settings.LINLI_HOME})
        self.stdout.write(_("Database: %(db)s") % {"db": _database_label()})
        self.stdout.write(_("Job queue: %(store)s") % {"store": settings.HUEY["huey_class"]})
        self.stdout.write(_("Creating or upgrading the database..."))
        call_command("migrate", interactive=False, verbosity=0)
        try:
            summary = load_demo(stdout=self.stdout)
        except DemoRefused as exc:
            raise CommandError(str(exc)) from exc
        self.write_summary(summary)
        opened = provision_demo_merchants(
            site_url=f"http://{HOST}:{port}", paysim_url=f"http://{HOST}:{paysim_port}",
            state_dir=Path(settings.LINLI_HOME) / "paysim",
        )
        self.stdout.write(
            _("Payment simulators: WeChat Pay, Alipay and sandbox merchant accounts ready "
              "for every community (%(opened)d opened now; not real money).")
            % {"opened": opened}
        )
        if no_serve:
            self.write_logins(summary)
            self.stdout.write(_("Run `linli demo` without --no-serve to start the web site."))
            return
        self.serve(port, paysim_port, summary)

    # --- serving ------------------------------------------------------------------------
    def serve(self, port: int, paysim_port: int, summary: DemoSummary) -> None:
        web = Child(
            _("web server"),
            [*gunicorn_argv(host=HOST, port=port, workers=2), "--graceful-timeout", "10"],
            signal.SIGTERM,
        )
        worker = Child(
            _("background worker"),
            [sys.executable, "-m", "linli.cli", "worker"],
            signal.SIGINT,
        )
        paysim = Child(
            _("payment simulator"),
            [sys.executable, "-m", "linli.cli", "paysim", "--port", str(paysim_port),
             "--home", str(settings.LINLI_HOME)],
            signal.SIGTERM,
        )
        env = child_env()
        env["LINLI_DEMO"] = "1"  # the sandbox channel and the demo help pages
        supervisor = Supervisor([web, worker, paysim], env=env)
        supervisor.install_signal_handlers()
        failure: str | None = None
        self.stdout.write(_("Starting the web server and the background worker..."))
        self.stdout.flush()
        connection.close()  # the children open their own; nothing is held across the wait
        try:
            supervisor.start()
            self.stdout.write(
                _("web server pid %(web)d, background worker pid %(worker)d")
                % {"web": web.pid, "worker": worker.pid}
            )
            wait_until_ready(supervisor, health_url=f"http://{HOST}:{port}/healthz")
            wait_until_ready(supervisor, health_url=f"http://{HOST}:{paysim_port}/",
                             worker=False)
            self.write_ready(port, paysim_port, summary)
            while True:
                supervisor.sleep(0.5)
        except StopRequested:
            self.stdout.write(_("Stopping..."))
        except ChildExited as exc:
            failure = _(
                "The %(child)s exited unexpectedly (exit code %(code)s); stopped the rest."
            ) % {"child": exc.child.name, "code": exc.returncode}
        except NotReady as exc:
            failure = _("The demo did not start: %(reason)s") % {"reason": exc}
        finally:
            self.stdout.flush()
            supervisor.stop()
            supervisor.restore_signal_handlers()
        if failure:
            raise CommandError(failure)
        self.stdout.write(_("Stopped."))

    # --- output -------------------------------------------------------------------------
    def write_summary(self, summary: DemoSummary) -> None:
        if summary.created:
            self.stdout.write(
                self.style.SUCCESS(_("Demo data loaded in %(seconds).1f s.") % {
                    "seconds": summary.seconds})
            )
        else:
            self.stdout.write(_("The demo data is already loaded; nothing new was created."))
        c = summary.counts
        self.stdout.write(
            _(
                "%(communities)d communities, %(buildings)d buildings, %(units)d units "
                "(%(occupied)d occupied, %(vacant)d vacant, %(decorating)d decorating; "
                "%(commercial_units)d commercial), %(parking_spaces)d parking spaces "
                "(%(parking_bound)d bound to a unit), %(people)d people, "
                "%(occupancies)d occupancies, %(staff)d staff logins."
            ) % c
        )

    def write_ready(self, port: int, paysim_port: int, summary: DemoSummary) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(_("ready")))
        self.stdout.write(
            _("Open %(url)s and log in with any login below.")
            % {"url": f"http://{HOST}:{port}/console/"}
        )
        self.stdout.write(
            _("Owner portal (open it on a phone-sized window): %(url)s") % {"url": self.portal_url}
        )
        self.write_logins(summary)
        self.stdout.write(
            _("Payment simulators (not real money): %(url)s") % {"url": f"http://{HOST}:{paysim_port}/"}
        )
        self.stdout.write(_("Press Ctrl-C to stop the web server, the worker and the simulators."))
        self.stdout.flush()

    def write_logins(self, summary: DemoSummary) -> None:
        self.stdout.write("")
        self.stdout.write(
            _("Demo logins (every password is %(password)s):") % {"password": DEMO_PASSWORD}
        )
        rows = [(_("Login"), _("Password"), _("Role"), _("Name"), _("Communities"))]
        rows += [
            (login.username, login.password, login.role, login.name, "、".join(login.communities))
            for login in summary.logins
        ]
        self.write_table(rows)
        self.stdout.write("")
        self.stdout.write(
            _("Some owners: they sign in to the owner portal at %(url)s with their mobile "
              "number; the SMS codes are shown at %(codes)s") % {"url": self.portal_url,
                                                                "codes": self.codes_url}
        )
        rows = [(_("Name"), _("Mobile"), _("Community"), _("Units"))]
        rows += [
            (owner.name, owner.mobile, owner.community, "、".join(owner.units))
            for owner in summary.owners
        ]
        self.write_table(rows)
        self.stdout.write("")

    def write_table(self, rows: list[tuple[str, ...]]) -> None:
        widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)]
            self.stdout.write("  " + "  ".join(cells).rstrip())


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _database_label() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {db['NAME']}"
    return f"{connection.vendor} {db['NAME']}@{db.get('HOST') or 'localhost'}"
