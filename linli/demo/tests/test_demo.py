"""The demo data and `linli demo`: idempotent loading, a well-formed estate, logins that
see only their communities, a clean `linli check`, and serving web + worker for real."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.calculators.periods import add_months
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    FeeItem,
    Meter,
    MeterReading,
)
from linli.billing.selectors import overdue_q
from linli.core.validators import validate_id_number, validate_mobile
from linli.demo.billing import billing_summary, billing_summary_text
from linli.demo.data import DEMO_PASSWORD, USERNAMES, DemoRefused, load_demo
from linli.demo.serve import port_is_free
from linli.demo.tests.test_demo_exceptions import ExceptionsInTheDemo
from linli.estate.models import (
    Community,
    Company,
    Occupancy,
    ParkingSpace,
    Person,
    Unit,
    id_number_index,
)
from linli.money import round_to_fen
from linli.payments.models import Payment, PaymentAllocation, PrepaidMovement, PrepaidWallet
from linli.reports.statement import unit_statement, unit_statement_totals
from linli.staff.models import Role

CUIHU, JINXIU = "翠湖花园", "锦绣苑"


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="class")
def loaded_demo(django_db_setup, django_db_blocker):
    """The demo, loaded once for the tests that read it (loading takes seconds: four
    months of billing are replayed through the services), emptied again afterwards so
    the tests that need an empty database see one."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        summary = load_demo()
    yield summary
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo(loaded_demo, db):
    return loaded_demo


def _row_counts() -> dict[str, int]:
    labels = ("estate", "staff", "core", "auth", "billing", "payments", "ledger")
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in labels
    }


# --- an empty database only ------------------------------------------------------------
def test_refuses_a_database_holding_other_data(db):
    Company.objects.create(name="别家物业有限公司")
    with pytest.raises(DemoRefused):
        load_demo()
    with pytest.raises(CommandError):
        call_command("linli_demo", "--no-serve", stdout=StringIO())
    assert not User.objects.exists()
    assert Company.objects.count() == 1


@pytest.mark.usefixtures("demo")
class TestLoadedDemo(ExceptionsInTheDemo):
    """Tests that read the demo share one load (``loaded_demo``), with those of the money
    exceptions it leaves open (``ExceptionsInTheDemo``)."""

    # --- loading --------------------------------------------------------------------------
    def test_loading_twice_creates_nothing_new(self, demo):
        assert demo.created is True
        before = _row_counts()
        again = load_demo()
        assert again.created is False
        assert again.counts == demo.counts
        assert again.logins == demo.logins
        assert _row_counts() == before

    def test_large_community_is_several_high_rise_buildings(self, demo):
        cuihu = Community.objects.get(name=CUIHU)
        units = Unit.objects.filter(community=cuihu)
        assert 380 <= units.count() <= 480
        assert cuihu.buildings.count() >= 5
        assert set(units.values_list("entrance", flat=True)) == {"1单元", "2单元"}
        assert units.aggregate(top=Max("floor"))["top"] >= 18
        shops = units.filter(kind=Unit.Kind.COMMERCIAL)
        assert shops.exists() and set(shops.values_list("floor", flat=True)) == {1}
        statuses = Counter(units.values_list("status", flat=True))
        assert statuses[Unit.Status.OCCUPIED] > units.count() / 2
        assert statuses[Unit.Status.VACANT] > 0 and statuses[Unit.Status.DECORATING] > 0
        assert str(units.get(building__name="3栋", entrance="2单元", room_no="1801")) == "3栋2单元1801"

    def test_small_community_is_low_rise(self, demo):
        jinxiu = Community.objects.get(name=JINXIU)
        units = Unit.objects.filter(community=jinxiu)
        assert 12 <= units.count() <= 40
        assert jinxiu.buildings.count() <= 2
        assert units.aggregate(top=Max("floor"))["top"] <= 7

    def test_areas_are_realistic(self, demo):
        for unit in Unit.objects.filter(kind=Unit.Kind.RESIDENTIAL):
            assert unit.building_area.as_tuple().exponent == -2
            assert Decimal("0.78") <= unit.usable_area / unit.building_area <= Decimal("0.82"), unit

    def test_people_are_well_formed_and_findable(self, demo):
        people = list(Person.objects.all())
        mobiles = [p.mobile for p in people if p.mobile]
        assert len(mobiles) == len(set(mobiles))
        for person in people:
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", person.name), person.name
            if person.mobile:
                validate_mobile(person.mobile)
                assert person.mobile[3:7] == "0013"  # the fake block
            validate_id_number(person.id_number)
            assert person.id_number_index == id_number_index(person.id_number)
        assert len(mobiles) < len(people)  # young children have no phone

    def test_every_sold_unit_has_exactly_one_current_payer(self, demo):
        current = Occupancy.objects.filter(end_date__isnull=True)
        payers = Counter(current.filter(is_payer=True).values_list("unit_id", flat=True))
        sold = Unit.objects.filter(delivered_on__isnull=False)
        assert set(payers) == set(sold.values_list("id", flat=True))
        assert set(payers.values()) == {1}
        unsold = Unit.objects.filter(delivered_on__isnull=True)
        assert unsold.exists() and not Occupancy.objects.filter(unit__in=unsold).exists()
        roles = Counter(current.values_list("role", flat=True))
        assert all(roles[role] > 0 for role in Occupancy.Role.values)
        assert current.filter(role=Occupancy.Role.TENANT, is_payer=True).exists()
        assert Occupancy.objects.filter(end_date__isnull=False).exists()  # resales, old leases
        for occupancy in Occupancy.objects.select_related("unit", "person"):
            assert occupancy.unit.community_id == occupancy.person.community_id

    def test_parking(self, demo):
        cuihu = ParkingSpace.objects.filter(community__name=CUIHU)
        assert 120 <= cuihu.count() <= 180
        bound = cuihu.filter(unit__isnull=False)
        assert 0 < bound.count() < cuihu.count()
        assert not bound.exclude(unit__community__name=CUIHU).exists()

    # --- logins ---------------------------------------------------------------------------
    @pytest.mark.parametrize(
        "username, communities",
        [
            ("root", {CUIHU, JINXIU}),
            ("admin", {CUIHU, JINXIU}),
            ("manager", {CUIHU}),
            ("manager2", {JINXIU}),
            ("cashier", {CUIHU}),
            ("finance", {CUIHU, JINXIU}),
            ("service", {CUIHU}),
        ],
    )
    def test_every_demo_login_sees_only_its_communities(self, client, demo, username, communities):
        response = client.post(
            "/console/login/",
            {"username": username, "password": DEMO_PASSWORD, "next": "/console/"},
        )
        assert response.status_code == 302 and response["Location"] == "/console/"
        page = client.get("/console/estate/unit/")
        assert page.status_code == 200
        changelist = page.context["cl"]
        assert changelist.result_count == Unit.objects.filter(community__name__in=communities).count()
        seen = set(changelist.queryset.values_list("community__name", flat=True).distinct())
        assert seen == communities
        printed = next(login for login in demo.logins if login.username == username)
        assert set(printed.communities) == communities

    def test_one_staff_login_per_role_is_printed(self, demo):
        assert [login.username for login in demo.logins] == list(USERNAMES)
        roles = set(User.objects.filter(staff__isnull=False).values_list("staff__role", flat=True))
        assert roles == set(Role.values)
        assert len(demo.owners) >= 3 and all(o.mobile and o.units for o in demo.owners)

    def test_demo_passes_linli_check(self, demo):
        out = StringIO()
        call_command("linli_check", stdout=out)  # exits with SystemExit(1) if anything broke
        assert "FAIL" not in out.getvalue()

    # --- billing ------------------------------------------------------------------------
    def test_fee_items_standards_and_prices(self):
        for name, price in ((CUIHU, "2.30"), (JINXIU, "1.80")):
            community = Community.objects.get(name=name)
            items = {i.name: i for i in FeeItem.objects.filter(community=community)}
            one_time = {"二次供水水箱清洗费"} if name == CUIHU else set()  # see exceptions.py
            assert set(items) == {"物业服务费", "公摊水电", "停车费", "水费", *one_time}
            prop = items["物业服务费"].standards.get()
            assert (prop.method, prop.cycle, prop.vacancy_percent) == (
                "building_area", "monthly", Decimal(50))
            assert (prop.late_fee_enabled, prop.late_fee_daily_rate, prop.late_fee_grace_days,
                    prop.late_fee_cap_fen) == (True, Decimal("0.0005"), 15, 50000)
            assert prop.rates.get().unit_price == Decimal(price)
            shared = items["公摊水电"].standards.get()
            assert (shared.method, shared.rates.get().unit_price) == ("fixed_unit", Decimal(15))
            parking = items["停车费"].standards.get()
            let = ParkingSpace.objects.filter(community=community, kind="rented",
                                              unit__isnull=False)
            assert set(parking.bindings.values_list("parking_space", flat=True)) == set(
                let.values_list("pk", flat=True))
            water = items["水费"].standards.get()
            assert (water.method, water.timing, water.meter_kind) == ("metered", "arrears", "water")
            assert water.rates.get().tiers == [{"up_to": "10", "price": "3.50"},
                                               {"up_to": None, "price": "4.80"}]
            settings = BillingSettings.objects.get(community=community)
            assert (settings.auto_offset_prepaid, settings.scheduled_runs,
                    settings.bill_run_day) == (name == CUIHU, True, 1)

    def test_four_months_of_bills_priced_by_their_standards(self):
        months = _months_back(4)
        advance = Bill.objects.exclude(fee_item__name="水费")
        assert sorted(set(advance.values_list("period_key", flat=True))) == months
        water = Bill.objects.filter(fee_item__name="水费")
        assert sorted(set(water.values_list("period_key", flat=True))) == months[:-1]
        vacant = Bill.objects.filter(fee_item__name="物业服务费", unit__status="vacant",
                                     unit__community__name=CUIHU).select_related("unit").first()
        assert vacant.amount_fen == round_to_fen(
            vacant.unit.building_area * Decimal("2.30") * Decimal("0.5"))
        heavy = water.filter(quantity__gt=10).first()
        assert heavy.amount_fen == round_to_fen(
            10 * Decimal("3.50") + (heavy.quantity - 10) * Decimal("4.80"))
        usage = sorted(water.filter(unit__status="occupied", unit__kind="residential")
                       .values_list("quantity", flat=True))
        assert Decimal(3) <= usage[len(usage) // 2] <= Decimal(20)  # a household's month
        assert Bill.objects.filter(fee_item__name="停车费", parking_space__isnull=False).exists()

    def test_readings_every_month_and_one_jump_held_for_review(self):
        months = _months_back(4)
        readings = MeterReading.objects.all()
        assert set(readings.values_list("period_key", flat=True)) == {
            _month_before(months[0]), *months[:-1]}
        flagged = readings.get(status=MeterReading.Status.FLAGGED)
        assert flagged.usage == Decimal(58) and flagged.flag_reason
        assert not Bill.objects.filter(reading=flagged).exists()
        assert Meter.objects.count() == Unit.objects.count()

    def test_older_bills_mostly_paid_this_month_mostly_not_some_overdue(self):
        today = timezone.localdate()
        current = f"{today:%Y-%m}"
        older = Bill.objects.exclude(period_key=current).exclude(fee_item__name="水费")
        paid = older.filter(status=Bill.Status.PAID).count()
        assert paid > older.count() * 0.6
        this_month = Bill.objects.filter(period_key=current)
        assert this_month.filter(status__in=Bill.OPEN_STATUSES).count() > this_month.count() / 2
        overdue = Bill.objects.filter(overdue_q(today))
        assert 0 < overdue.count() < Bill.objects.count() / 2
        payments = Payment.objects.all()
        assert set(payments.values_list("channel", flat=True)) >= {"cash", "pos", "transfer"}
        # Counter money only (the money exceptions bring online payments: no cashier).
        cuihu = payments.filter(community__name=CUIHU).exclude(channel__in=("prepaid", "sandbox"))
        assert set(cuihu.values_list("cashier__username", flat=True)) == {"cashier"}
        assert not payments.filter(received_at__gt=timezone.now()).exists()
        late = PaymentAllocation.objects.filter(late_fee_fen__gt=0)
        assert 0 < late.count() < PaymentAllocation.objects.count() / 5
        for allocation in late.select_related("bill", "payment")[:20]:
            assert timezone.localtime(allocation.payment.received_at).date() > (
                allocation.bill.due_date + dt.timedelta(days=15))

    def test_prepaid_deposits_and_waivers(self):
        wallets = PrepaidWallet.objects.all()
        assert wallets.filter(balance_fen__gt=0).exists()
        kinds = set(PrepaidMovement.objects.values_list("kind", flat=True))
        assert {"deposit", "offset"} <= kinds
        approved = BillAdjustment.objects.filter(status="approved", kind="waiver")
        assert approved.filter(approved_by__username="finance").count() >= 2
        assert all(a.reason for a in approved)
        assert BillAdjustment.objects.filter(status="pending").count() == 1
        assert BillAdjustment.objects.filter(kind="late_fee_waiver", status="approved").exists()

    def test_statements_end_at_what_units_owe_and_hold(self):
        units = set(PrepaidWallet.objects.values_list("unit_id", flat=True))
        units |= set(BillAdjustment.objects.values_list("bill__unit_id", flat=True))
        units |= set(Unit.objects.order_by("?").values_list("pk", flat=True)[:30])
        for unit_id in units:
            rows = unit_statement(unit_id)
            totals = unit_statement_totals(unit_id)
            assert rows, unit_id
            assert (rows[-1].owed_after_fen, rows[-1].prepaid_after_fen) == (
                totals.owed_fen, totals.prepaid_fen), unit_id
            assert all(r.owed_after_fen >= 0 and r.prepaid_after_fen >= 0 for r in rows), unit_id
            assert [r.at for r in rows] == sorted(r.at for r in rows)

    def test_the_cashier_reads_a_statement_of_their_community_only(self, client):
        client.post("/console/login/", {"username": "cashier", "password": DEMO_PASSWORD})
        unit = PrepaidWallet.objects.filter(community__name=CUIHU).first().unit
        page = client.get(f"/console/billing/units/{unit.pk}/statement/")
        assert page.status_code == 200 and str(unit) in page.content.decode()
        elsewhere = Unit.objects.filter(community__name=JINXIU).first()
        assert client.get(f"/console/billing/units/{elsewhere.pk}/statement/").status_code == 404

    def test_the_cashier_takes_a_deposit_and_sees_it_on_the_statement(self, client):
        client.post("/console/login/", {"username": "cashier", "password": DEMO_PASSWORD})
        unit = Unit.objects.filter(community__name=CUIHU, status="occupied").first()
        url = f"/console/billing/units/{unit.pk}/deposit/"
        page = client.get(url)
        assert page.status_code == 200
        key = re.search(r'name="key" value="([0-9a-f]{32})"', page.content.decode()).group(1)
        response = client.post(url, {"key": key, "amount": "800", "channel": "cash"})
        assert response.status_code == 302
        statement = client.get(response["Location"])
        assert statement.context["totals"].prepaid_fen >= 80000
        assert client.get("/console/payments/payment/").status_code == 200

def _months_back(count: int) -> list[str]:
    first = timezone.localdate().replace(day=1)
    return [f"{add_months(first, -i):%Y-%m}" for i in range(count - 1, -1, -1)]


def _month_before(key: str) -> str:
    return f"{add_months(dt.date.fromisoformat(key + '-01'), -1):%Y-%m}"


# --- the command ------------------------------------------------------------------------
def test_demo_command_without_serving(db):
    out = StringIO()
    call_command("linli_demo", "--no-serve", stdout=out)
    text = out.getvalue()
    for username in USERNAMES:
        assert re.search(rf"^\s+{username}\s+{DEMO_PASSWORD}\s", text, re.MULTILINE), username
    assert CUIHU in text and JINXIU in text
    communities = list(Community.objects.all())
    assert billing_summary_text(billing_summary(communities, today=timezone.localdate())) in text
    counts = _row_counts()

    out = StringIO()
    call_command("linli_demo", "--no-serve", stdout=out)
    assert _("The demo data is already loaded; nothing new was created.") in out.getvalue()
    assert _row_counts() == counts


class DemoProcess:
    """`linli demo` as a user runs it, in its own data folder (SQLite, jobs in SQLite)."""

    def __init__(self, home, port: int, paysim_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env["LINLI_HOME"] = str(home)
        self.port = port
        self.paysim_port = paysim_port
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "linli.cli", "demo", "--port", str(port),
             "--paysim-port", str(paysim_port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if line.strip() == _(
                "Press Ctrl-C to stop the web server, the worker and the simulators."
            ):
                self.ready.set()  # the last line `linli demo` prints once it is ready

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout_s: float = 300) -> None:  # loading the data is slow on a busy machine
        deadline = time.monotonic() + timeout_s
        while not self.ready.wait(0.2):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output

    def children(self) -> dict[str, int]:
        """``web``, ``worker`` and ``paysim`` pids; each leads its own process group."""
        ps = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(self.process.pid)],
                            capture_output=True, text=True)
        found = {}
        for line in ps.stdout.splitlines():
            pid, args = line.split(None, 1)
            kind = "web" if "gunicorn" in args else "paysim" if "paysim" in args else "worker"
            found[kind] = int(pid)
        return found

    def stop(self, signum=signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=40)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _free_ports() -> tuple[int, int]:
    free = (p for p in range(8770, 8970) if port_is_free("127.0.0.1", p))
    return next(free), next(free)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    return tmp_path_factory.mktemp("demo-home")


def _log_in(base: str, username: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    page = opener.open(f"{base}/console/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": token, "username": username, "password": DEMO_PASSWORD,
            "next": "/console/"}
    response = opener.open(f"{base}/console/login/", urllib.parse.urlencode(form).encode())
    assert response.geturl() == f"{base}/console/", "login did not reach the console"
    return opener


def test_linli_demo_serves_web_and_worker_until_ctrl_c(demo_home):
    demo = DemoProcess(demo_home, *_free_ports())
    try:
        demo.wait_ready()
        base = f"http://127.0.0.1:{demo.port}"
        assert _("ready") in [line.strip() for line in demo.lines]
        assert f"{base}/console/" in demo.output
        for username in USERNAMES:
            assert username in demo.output
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        assert no_proxy.open(f"{base}/healthz").status == 200
        units = _log_in(base, "manager2").open(f"{base}/console/estate/unit/").read().decode()
        # 锦绣苑's buildings are 幢, 翠湖花园's are 栋: only the former may appear.
        assert "1幢" in units and not re.search(r"\d栋", units)
        children = demo.children()
        assert set(children) == {"web", "worker", "paysim"}
        sim = no_proxy.open(f"http://127.0.0.1:{demo.paysim_port}/").read().decode()
        assert "非真实资金" in sim
    finally:
        returncode = demo.stop(signal.SIGINT)
    assert returncode == 0, demo.output
    assert _("Stopped.") in demo.output
    assert all(_group_gone(pgid) for pgid in children.values()), demo.output


def test_linli_demo_stops_everything_and_fails_when_a_child_dies(demo_home):
    demo = DemoProcess(demo_home, *_free_ports())  # the demo is loaded already: no reload
    try:
        demo.wait_ready()
        assert _("The demo data is already loaded; nothing new was created.") in demo.output
        children = demo.children()
        os.killpg(children["worker"], signal.SIGKILL)
        returncode = demo.process.wait(timeout=40)
    finally:
        demo.stop()
    assert returncode == 1, demo.output
    assert all(_group_gone(pgid) for pgid in children.values()), demo.output


def test_linli_demo_stops_cleanly_on_sigterm(demo_home):
    demo = DemoProcess(demo_home, *_free_ports())
    try:
        demo.wait_ready()
        children = demo.children()
    finally:
        returncode = demo.stop(signal.SIGTERM)
    assert returncode == 0, demo.output
    assert all(_group_gone(pgid) for pgid in children.values()), demo.output
