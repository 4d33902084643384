"""Bill runs (批次): preview = commit, idempotent reruns, proration, races, reversal, and the
three front doors — `linli bill-run`, the console page and the scheduled job."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse
from huey.contrib.djhuey import HUEY

from linli import testing as t
from linli.billing import tasks
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    BillRun,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.services import bill_run as bill_run_module
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import (
    BillRunChanged,
    BillRunConflict,
    bill_run_commit,
    bill_run_preview,
)
from linli.billing.services.bill_run_reversal import BillRunReversalError, bill_run_reverse
from linli.billing.services.planning import BillRunError
from linli.estate.models import ParkingSpace, Unit
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.ledger.selectors import account_balance
from linli.payments.models import Channel
from linli.payments.services import payment_record
from linli.staff.models import Role

TODAY = dt.date(2026, 11, 20)
PERIOD = "2026-11"
D = Decimal


def fee(community, name, method, price, *, category="property", scope=Binding.Scope.COMMUNITY,
        vacancy=None, since=dt.date(2024, 1, 1)):
    item = FeeItem.objects.create(community=community, name=name, category=category)
    standard = ChargeStandard.objects.create(
        fee_item=item, name=name, method=method, due_days=30, vacancy_percent=vacancy
    )
    StandardRate.objects.create(standard=standard, effective_from=since, unit_price=D(price))
    Binding.objects.create(standard=standard, scope=scope, start_date=since)
    return item


@pytest.fixture
def priced(estate):
    """Community A1: 3 more units (one with no area, one vacant), property fee by area
    (vacant pay 50 %), a fixed rubbish fee, parking per space; a standard with no price."""
    community = estate["a1"]
    t.make_unit(community, area="100.00")
    vacant = t.make_unit(community, area="120.00")
    Unit.objects.filter(community=community).exclude(pk=vacant.pk).update(
        status=Unit.Status.OCCUPIED)
    no_area = t.make_unit(community, room="999")
    Unit.objects.filter(pk=no_area.pk).update(building_area=None, usable_area=None)
    items = {
        "property": fee(community, "物业服务费", ChargeStandard.Method.BUILDING_AREA, "2.50",
                        vacancy=D(50)),
        "rubbish": fee(community, "垃圾费", ChargeStandard.Method.FIXED_UNIT, "15",
                       category="other"),
        "parking": fee(community, "停车费", ChargeStandard.Method.FIXED_SPACE, "150",
                       category="parking", scope=Binding.Scope.ALL_PARKING),
    }
    unpriced = FeeItem.objects.create(community=community, name="电梯费", category="other")
    ChargeStandard.objects.create(fee_item=unpriced, name="电梯费",
                                  method=ChargeStandard.Method.FIXED_UNIT)
    return {**estate, "items": items, "vacant": vacant, "no_area": no_area}


def check_ok():
    try:
        call_command("linli_check", stdout=_Sink())
    except SystemExit as exc:
        pytest.fail(f"linli check failed ({exc.code})")


class _Sink:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def row_values(bill_ids):
    """Bills as stored, column by column (raw SQL: what the database holds)."""
    columns = [f.column for f in Bill._meta.concrete_fields
               if f.name not in ("id", "bill_run", "issued_at")]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM billing_bill WHERE id IN "
            f"({', '.join(['%s'] * len(bill_ids))}) ORDER BY unit_id, fee_item_id, id",
            list(bill_ids),
        )
        return cursor.fetchall()


# --- the service ----------------------------------------------------------------------


@pytest.mark.django_db
def test_preview_writes_nothing_and_commit_writes_exactly_what_it_showed(priced):
    community, items = priced["a1"], priced["items"]
    before = (Bill.objects.count(), BillRun.objects.count(), JournalEntry.objects.count())
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert (Bill.objects.count(), BillRun.objects.count(), JournalEntry.objects.count()) == before

    # 88.50 + 100 m² at 2.50; 120 m² vacant at half; the unit with no area is a warning.
    property_fen = 22125 + 25000 + 15000
    assert preview.by_fee_item == {
        items["property"].pk: {"count": 3, "total_fen": property_fen},
        items["rubbish"].pk: {"count": 4, "total_fen": 4 * 1500},
        items["parking"].pk: {"count": 1, "total_fen": 15000},
    }
    assert preview.bill_count == 8
    assert preview.total_fen == property_fen + 6000 + 15000
    warnings = {w["code"]: w for w in preview.warnings}
    assert set(warnings) == {"no_area", "no_price"}
    assert warnings["no_area"]["count"] == 1
    assert warnings["no_area"]["examples"] == [str(priced["no_area"])]
    assert warnings["no_price"]["examples"] == ["电梯费 · 电梯费"]

    run, committed = bill_run_commit(acting_user=None, community_id=community.pk,
                                     period_key=PERIOD, today=TODAY)
    assert (run.bill_count, run.total_fen) == (preview.bill_count, preview.total_fen)
    assert committed.by_fee_item == preview.by_fee_item
    assert committed.warnings == preview.warnings == run.warnings
    assert committed.sample == preview.sample
    # The stored bills are the planned ones, field by field.
    def key(row):
        return row[0], row[1] or 0, row[2]

    stored = sorted((
        (b.unit_id, b.parking_space_id, b.fee_item_id, b.amount_fen, b.quantity, b.unit_price,
         b.due_date, b.detail, b.period_start, b.period_end, b.status)
        for b in Bill.objects.filter(bill_run=run)
    ), key=key)
    planned = sorted((
        (p.unit_id, p.parking_space_id, p.fee_item_id, p.amount_fen, p.quantity, p.unit_price,
         p.due_date, p.detail, p.period.start, p.period.end, Bill.Status.UNPAID)
        for p in committed.sample
    ), key=key)
    assert stored == planned  # the sample holds every bill of a run this small
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == run.total_fen
    assert JournalEntry.objects.get().memo == f"{PERIOD} 出账（批次 #{run.pk}，第 1 批）"
    check_ok()


@pytest.mark.django_db
def test_the_bulk_path_stores_what_the_orm_would(priced):
    """Bills are written with COPY / executemany, not Model.save(): every column must hold
    exactly what the ORM would have stored. (Their ledger lines are checked by `linli
    check`, which recomputes each entry's digest from the stored rows.)"""
    community = priced["a1"]
    run, preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                   period_key=PERIOD, today=TODAY)
    bulk = Bill.objects.filter(bill_run=run)
    bulk_rows = row_values(list(bulk.values_list("id", flat=True)))
    issued_at = bulk.first().issued_at
    bulk.delete()  # only to free the unique keys for the ORM's copies
    orm_ids = []
    for planned in preview.sample:
        bill = planned.as_model(community_id=community.pk, bill_run_id=None, issued_by_id=None)
        bill.save()
        orm_ids.append(bill.pk)
    assert len(bulk_rows) == 8
    assert bulk_rows == row_values(orm_ids)
    assert abs((issued_at - Bill.objects.get(pk=orm_ids[0]).issued_at).total_seconds()) < 60
    check_ok()


@pytest.mark.django_db
def test_rerun_issues_only_what_is_missing(priced):
    community = priced["a1"]
    first, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                               today=TODAY)
    newcomer = t.make_unit(community, area="50.00")
    t.make_parking(community, newcomer)
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert preview.already_billed == first.bill_count
    second, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                                today=TODAY)
    new_bills = Bill.objects.filter(bill_run=second)
    assert set(new_bills.values_list("unit_id", flat=True)) == {newcomer.pk}
    assert new_bills.count() == 3  # property, rubbish and the new parking space
    assert second.bill_count == preview.bill_count == 3
    runs = BillRun.objects.count()
    third, preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                     period_key=PERIOD, today=TODAY)
    assert third is None and preview.already_billed == first.bill_count + 3
    assert BillRun.objects.count() == runs  # no empty committed run
    assert Bill.objects.filter(community=community).count() == first.bill_count + 3
    check_ok()


@pytest.mark.django_db
def test_unit_delivered_mid_period_is_prorated_by_days(estate):
    community = estate["a1"]
    item = fee(community, "物业服务费", ChargeStandard.Method.BUILDING_AREA, "2.50")
    late = t.make_unit(community, area="100.00")
    Unit.objects.filter(pk=late.pk).update(delivered_on=dt.date(2026, 11, 16))
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    bill = Bill.objects.get(unit=late, fee_item=item)
    # 16–30 November: 15 of 30 days of 100 m² × 2.50 = 125.00
    assert bill.amount_fen == 12500
    assert bill.detail["proration"] == "1/2"
    assert Bill.objects.get(unit=estate["a1_unit"], fee_item=item).amount_fen == 22125
    # Delivered after the month: no bill for it; the next month from its day on.
    later = t.make_unit(community, area="100.00")
    Unit.objects.filter(pk=later.pk).update(delivered_on=dt.date(2026, 12, 3))
    november = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert (november.bill_count, november.already_billed) == (0, 2)
    december = bill_run_preview(community_id=community.pk, period_key="2026-12", today=TODAY)
    assert {p.unit_id: p.amount_fen for p in december.sample}[later.pk] == 23387  # 29/31


@pytest.mark.django_db
def test_binding_that_ends_mid_period_is_prorated(estate):
    community = estate["a1"]
    item = fee(community, "停车费", ChargeStandard.Method.FIXED_SPACE, "150",
               category="parking", scope=Binding.Scope.ALL_PARKING)
    binding = Binding.objects.get(standard__fee_item=item)
    Binding.objects.filter(pk=binding.pk).update(end_date=dt.date(2026, 11, 10))
    bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert Bill.objects.get(fee_item=item).amount_fen == 5000  # 10 of 30 days of 150.00


@pytest.mark.django_db
def test_a_unit_bound_twice_for_one_fee_item_gets_one_bill(estate):
    community = estate["a1"]
    item = fee(community, "物业服务费", ChargeStandard.Method.BUILDING_AREA, "2.50")
    second = ChargeStandard.objects.create(fee_item=item, name="商铺",
                                           method=ChargeStandard.Method.FIXED_UNIT)
    StandardRate.objects.create(standard=second, effective_from=dt.date(2024, 1, 1),
                                unit_price=D("99"))
    Binding.objects.create(standard=second, scope=Binding.Scope.UNIT, unit=estate["a1_unit"],
                           start_date=dt.date(2024, 1, 1))
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    assert preview.bill_count == run.bill_count == 1
    assert [w["code"] for w in run.warnings] == ["bound_twice"]


@pytest.mark.django_db
def test_commit_refuses_when_the_figures_changed_since_the_preview(priced):
    community = priced["a1"]
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    t.make_unit(community, area="70.00")
    with pytest.raises(BillRunChanged):
        bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                        today=TODAY, expected=(preview.bill_count, preview.total_fen))
    assert not Bill.objects.exists() and not BillRun.objects.exists()
    assert not JournalEntry.objects.exists()


@pytest.mark.django_db
def test_fee_items_of_another_community_are_refused(priced):
    foreign = fee(priced["a2"], "物业服务费", ChargeStandard.Method.FIXED_UNIT, "10")
    with pytest.raises(BillRunError):
        bill_run_preview(community_id=priced["a1"].pk, period_key=PERIOD,
                         fee_item_ids=[foreign.pk], today=TODAY)
    with pytest.raises(BillRunError):
        bill_run_commit(acting_user=None, community_id=priced["a1"].pk, period_key=PERIOD,
                        fee_item_ids=[foreign.pk], today=TODAY)
    assert not BillRun.objects.exists()


@pytest.mark.django_db
def test_chosen_fee_items_only(priced):
    community, items = priced["a1"], priced["items"]
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             fee_item_ids=[items["rubbish"].pk], today=TODAY)
    assert set(Bill.objects.values_list("fee_item_id", flat=True)) == {items["rubbish"].pk}
    assert list(run.fee_items.all()) == [items["rubbish"]]


@pytest.mark.django_db
def test_reversal_is_refused_once_a_bill_is_paid(priced):
    community = priced["a1"]
    cashier = t.make_staff(priced["company_a"], Role.CASHIER, [community])
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    bill = Bill.objects.filter(bill_run=run, unit=priced["a1_unit"]).first()
    payment_record(acting_user=cashier, unit=bill.unit, channel=Channel.CASH,
                   amount_fen=bill.amount_fen, bill_ids=[bill.pk], idempotency_key="p-1")
    with pytest.raises(BillRunReversalError):
        bill_run_reverse(acting_user=None, run=run, reason="录错了")
    run.refresh_from_db()
    assert run.status == BillRun.Status.COMMITTED
    assert not Bill.objects.filter(status=Bill.Status.CANCELLED).exists()
    check_ok()


@pytest.mark.django_db
def test_reversal_cancels_bills_and_posts_the_mirror(priced):
    community = priced["a1"]
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    issued = set(JournalEntry.objects.values_list("id", flat=True))
    bill_run_reverse(acting_user=None, run=run, reason="价格录错")
    assert set(Bill.objects.values_list("status", flat=True)) == {Bill.Status.CANCELLED}
    assert Bill.objects.count() == run.bill_count  # nothing deleted
    assert JournalEntry.objects.filter(reverses_id__in=issued).count() == len(issued)
    assert account_balance(account=chart.RECEIVABLE, community_id=community.pk) == 0
    check_ok()


@pytest.mark.django_db
def test_a_reversed_period_is_billed_again_at_the_mended_price(priced):
    """The reason to reverse a run: the price was wrong. Mended, the month bills again —
    new bills beside the cancelled ones, which stay as they were."""
    community, items = priced["a1"], priced["items"]
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    bill_run_reverse(acting_user=None, run=run, reason="价格录错")
    StandardRate.objects.filter(standard__fee_item=items["rubbish"]).update(unit_price=D("12"))
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert (preview.bill_count, preview.already_billed) == (run.bill_count, 0)
    again, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                               today=TODAY)
    assert again.bill_count == run.bill_count
    rubbish = Bill.objects.filter(fee_item=items["rubbish"], unit=priced["a1_unit"])
    assert sorted(rubbish.values_list("status", "amount_fen")) == [
        (Bill.Status.CANCELLED, 1500), (Bill.Status.UNPAID, 1200)]
    # Billed again is billed once: a third run finds everything there.
    third, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                               today=TODAY)
    assert third is None
    check_ok()


@pytest.mark.django_db
def test_a_bill_cancelled_on_its_own_is_not_billed_again(priced):
    community = priced["a1"]
    bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD, today=TODAY)
    bill = Bill.objects.get(unit=priced["a1_unit"], fee_item=priced["items"]["rubbish"])
    bill_adjustment_request(acting_user=None, bill=bill, kind=BillAdjustment.Kind.CANCELLATION,
                            reason="重复收费")
    assert Bill.objects.get(pk=bill.pk).status == Bill.Status.CANCELLED
    preview = bill_run_preview(community_id=community.pk, period_key=PERIOD, today=TODAY)
    assert preview.bill_count == 0
    check_ok()


# --- two runs at once (PostgreSQL: SQLite serialises writers at BEGIN) ----------------


def _race(community_id, *, barrier_at, monkeypatch):
    """Two threads commit the same run; both reach ``barrier_at`` before either goes on."""
    barrier = threading.Barrier(2, timeout=30)
    original = getattr(bill_run_module, barrier_at)

    met = []

    def meet_then(*args, **kwargs):
        if not getattr(passed, "done", False):
            passed.done = True
            met.append(threading.get_ident())
            barrier.wait()
        return original(*args, **kwargs)

    passed = threading.local()
    monkeypatch.setattr(bill_run_module, barrier_at, meet_then)
    runs, errors = [], []

    def worker():
        try:
            run, _ = bill_run_commit(acting_user=None, community_id=community_id,
                                     period_key=PERIOD, today=TODAY)
            runs.append(run)
        except Exception as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(met) == 2, f"the race never met at {barrier_at}"
    return runs, errors


def _one_bill_each(community):
    keys = list(Bill.objects.filter(community=community).values_list(
        "unit_id", "parking_space_id", "fee_item_id"))
    assert len(keys) == len(set(keys))
    return len(keys)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_issue_each_bill_once(priced, monkeypatch):
    community = priced["a1"]
    BillingSettings.objects.get_or_create(community=community)
    runs, errors = _race(community.pk, barrier_at="lock_runs", monkeypatch=monkeypatch)
    assert errors == []
    # The second finds the month billed: it records no run.
    assert sorted((r.bill_count if r else 0) for r in runs) == [0, 8]
    assert BillRun.objects.filter(community=community).count() == 1
    assert _one_bill_each(community) == 8
    trial = JournalLine.objects.filter(community=community)
    assert sum(x.amount_fen for x in trial if x.side == "D") == sum(
        x.amount_fen for x in trial if x.side == "C")
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_lock_the_unique_constraint_still_refuses_duplicates(priced, monkeypatch):
    community = priced["a1"]
    BillingSettings.objects.get_or_create(community=community)
    monkeypatch.setattr(bill_run_module, "lock_runs",
                        lambda community_id: BillingSettings.objects.get(community_id=community_id))
    # Both plan the same bills, then both write them (by COPY: PostgreSQL's write path).
    runs, errors = _race(community.pk, barrier_at="insert_raw", monkeypatch=monkeypatch)
    assert len(runs) == 1 and runs[0].bill_count == 8
    assert len(errors) == 1 and isinstance(errors[0], BillRunConflict)
    assert BillRun.objects.count() == 1  # the loser wrote nothing, not even its run
    assert _one_bill_each(community) == 8
    check_ok()


# --- `linli bill-run` --------------------------------------------------------------------


@pytest.mark.django_db
def test_command_previews_then_commits(priced):
    community = priced["a1"]
    out = _Sink()
    call_command("linli_bill_run", "--community", str(community.pk), "--period", PERIOD,
                 stdout=out)
    assert not Bill.objects.exists()
    assert "物业服务费" in out.text and "¥621.25" in out.text  # property fee total
    assert "8" in out.text and "¥831.25" in out.text  # all bills
    assert str(priced["no_area"]) in out.text  # a warning's example
    out = _Sink()
    call_command("linli_bill_run", "--community", str(community.pk), "--period", PERIOD,
                 "--fee-item", str(priced["items"]["rubbish"].pk),
                 "--fee-item", str(priced["items"]["parking"].pk), "--commit", stdout=out)
    run = BillRun.objects.get()
    assert f"#{run.pk}" in out.text
    assert run.bill_count == 5 and Bill.objects.count() == 5


@pytest.mark.django_db
def test_command_exits_with_the_reason_when_refused(priced):
    with pytest.raises(CommandError, match="2030-01"):
        call_command("linli_bill_run", "--community", str(priced["a1"].pk),
                     "--period", "2030-01", "--commit", stdout=_Sink())
    with pytest.raises(CommandError):
        call_command("linli_bill_run", "--community", "999999", "--period", PERIOD,
                     stdout=_Sink())
    assert not BillRun.objects.exists()


# --- the console page --------------------------------------------------------------------


def in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the language switcher's cookie


def staff(estate, role=Role.MANAGER, *, perms=("add_billrun", "change_billrun", "view_billrun")):
    user = t.make_staff(estate["company_a"], role, [estate["a1"]])
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="billing", codename__in=perms))
    return User.objects.get(pk=user.pk)


@pytest.mark.django_db
def test_console_preview_shows_warnings_and_commit_issues_the_bills(client, priced):
    community = priced["a1"]
    client.force_login(staff(priced))
    in_english(client)
    url = reverse("billing:bill-runs")
    assert client.get(url).status_code == 200
    params = {"community": community.pk, "period": PERIOD}
    response = client.post(url, {**params, "action": "preview"})
    assert response.status_code == 200
    preview = response.context["preview"]["preview"]
    assert preview.bill_count == 8
    html = response.content.decode()
    assert "Units with no area" in html and str(priced["no_area"]) in html
    assert "¥831.25" in html
    assert not Bill.objects.exists()

    response = client.post(url, {**params, "action": "commit", "expected_count": 8,
                                 "expected_total_fen": preview.total_fen})
    run = BillRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_billrun_change", args=[run.pk])
    assert run.created_by.username and Bill.objects.count() == 8
    # The run's page lists its warnings in words, in the reader's language.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(response["Location"]).content.decode()
    assert "没有面积的房屋" in page and str(priced["no_area"]) in page
    assert '"code"' not in page and "&quot;code&quot;" not in page


@pytest.mark.django_db
def test_console_commit_of_a_stale_preview_writes_nothing(client, priced):
    community = priced["a1"]
    client.force_login(staff(priced))
    response = client.post(reverse("billing:bill-runs"), {
        "community": community.pk, "period": PERIOD, "action": "commit",
        "expected_count": 7, "expected_total_fen": 1,
    })
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Bill.objects.exists()


@pytest.mark.django_db
def test_console_chosen_fee_items_and_foreign_ones(client, priced):
    client.force_login(staff(priced))
    url = reverse("billing:bill-runs")
    rubbish = priced["items"]["rubbish"]
    response = client.post(url, {"community": priced["a1"].pk, "period": PERIOD,
                                 "fee_items": [rubbish.pk], "action": "preview"})
    assert response.context["preview"]["preview"].bill_count == 4
    assert f'name="fee_items" value="{rubbish.pk}"' in response.content.decode()
    foreign = fee(priced["a2"], "物业服务费", ChargeStandard.Method.FIXED_UNIT, "10")
    response = client.post(url, {"community": priced["a1"].pk, "period": PERIOD,
                                 "fee_items": [foreign.pk], "action": "preview"})
    assert response.context["preview"] is None and response.context["form"].errors


@pytest.mark.django_db
def test_console_other_community_is_404_and_permission_is_needed(client, priced):
    client.force_login(staff(priced))
    url = reverse("billing:bill-runs")
    for other in (priced["a2"], priced["b1"]):
        response = client.post(url, {"community": other.pk, "period": PERIOD,
                                     "action": "commit"})
        assert response.status_code == 404
    run = BillRun.objects.create(community=priced["b1"], period_key=PERIOD)  # another company's
    assert client.get(reverse("billing:bill-run-reverse", args=[run.pk])).status_code == 404
    assert not Bill.objects.filter(community=priced["a2"]).exists()
    client.force_login(staff(priced, Role.CASHIER, perms=()))
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_console_reverse_needs_a_reason_and_shows_a_refusal(client, priced):
    community = priced["a1"]
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    client.force_login(staff(priced))
    in_english(client)
    url = reverse("billing:bill-run-reverse", args=[run.pk])
    assert client.post(url, {"reason": ""}).context["form"].errors
    bill = Bill.objects.filter(bill_run=run).first()
    payment_record(acting_user=None, unit=bill.unit, channel=Channel.CASH,
                   amount_fen=bill.amount_fen, bill_ids=[bill.pk], idempotency_key="p-2")
    response = client.post(url, {"reason": "录错"})
    html = response.content.decode()
    # The refusal names the bill (unit, fee item, period), why, and what to do.
    target = str(bill.parking_space or bill.unit)
    assert f"{target} {bill.fee_item.name} {bill.period_key} (paid at the counter)" in html
    assert "Refund those payments" in html
    run.refresh_from_db()
    assert run.status == BillRun.Status.COMMITTED


@pytest.mark.django_db
def test_console_reverse(client, priced):
    community = priced["a1"]
    run, _ = bill_run_commit(acting_user=None, community_id=community.pk, period_key=PERIOD,
                             today=TODAY)
    client.force_login(staff(priced))
    response = client.post(reverse("billing:bill-run-reverse", args=[run.pk]),
                           {"reason": "价格录错"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == BillRun.Status.REVERSED
    assert set(Bill.objects.values_list("status", flat=True)) == {Bill.Status.CANCELLED}


# --- the scheduled run ---------------------------------------------------------------------


@pytest.fixture
def immediate_jobs():
    """Queued jobs run at once, in memory (the real store is put back afterwards)."""
    HUEY.immediate = True
    yield
    HUEY.immediate = False


@pytest.mark.django_db
def test_scheduled_run_bills_on_its_day_and_not_on_others(priced, immediate_jobs):
    a1, a2 = priced["a1"], priced["a2"]
    fee(a2, "物业服务费", ChargeStandard.Method.FIXED_UNIT, "10")
    BillingSettings.objects.create(community=a1, scheduled_runs=True, bill_run_day=5)
    BillingSettings.objects.create(community=a2, scheduled_runs=False, bill_run_day=5)

    assert tasks.queue_due_bill_runs(dt.date(2026, 11, 4)) == []
    assert not Bill.objects.exists()
    assert tasks.queue_due_bill_runs(dt.date(2026, 11, 5)) == [a1.pk]
    run = BillRun.objects.get()
    assert (run.community, run.period_key, run.bill_count) == (a1, "2026-11", 8)
    assert not Bill.objects.filter(community=a2).exists()
    # A second run the same day (a retried job) issues nothing new.
    tasks.queue_due_bill_runs(dt.date(2026, 11, 5))
    assert Bill.objects.count() == 8


@pytest.mark.django_db
def test_one_community_failing_does_not_stop_the_others(priced, immediate_jobs, monkeypatch):
    a1, a2 = priced["a1"], priced["a2"]
    fee(a2, "物业服务费", ChargeStandard.Method.FIXED_UNIT, "10")
    for community in (a1, a2):
        BillingSettings.objects.create(community=community, scheduled_runs=True, bill_run_day=1)
    real_commit = tasks.bill_run_commit

    def broken_for_a1(**kwargs):
        if kwargs["community_id"] == a1.pk:
            raise RuntimeError("disk on fire")
        return real_commit(**kwargs)

    monkeypatch.setattr(tasks, "bill_run_commit", broken_for_a1)
    assert tasks.queue_due_bill_runs(dt.date(2026, 12, 1)) == [a1.pk, a2.pk]
    assert not Bill.objects.filter(community=a1).exists()
    assert Bill.objects.filter(community=a2, period_key="2026-12").count() == 1


def test_scheduled_runs_fire_at_ten_past_one_local_time():
    due = {t.name for t in HUEY.read_periodic(dt.datetime(2026, 3, 9, 17, 10))}  # 01:10 +08
    assert "scheduled_bill_runs" in due
    assert "scheduled_bill_runs" not in {
        t.name for t in HUEY.read_periodic(dt.datetime(2026, 3, 10, 1, 10))
    }


@pytest.mark.django_db
def test_building_and_space_labels_in_the_sample(priced):
    preview = bill_run_preview(community_id=priced["a1"].pk, period_key=PERIOD, today=TODAY)
    rows = bill_run_module.preview_sample(preview)
    space = ParkingSpace.objects.get(community=priced["a1"])
    assert {r.target for r in rows if r.fee_item == "停车费"} == {
        f"{space.code} · {priced['a1_unit']}"}
    assert {r.target for r in rows if r.fee_item == "物业服务费"} == {
        str(u) for u in Unit.objects.filter(community=priced["a1"]).exclude(
            pk=priced["no_area"].pk)}


# --- `linli bench billing` ------------------------------------------------------------------


def test_bench_billing_prints_one_json_line_of_figures():
    """A tiny run end to end: a child process, a throwaway SQLite file, the JSON line."""
    out = _Sink()
    call_command("linli_bench", "billing", "--units", "30", stdout=out)
    lines = out.text.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["units"] == 30
    assert figures["bills"] == 30 + 30 + 10  # by area, fixed, and a third have a space
    assert figures["database"] == "sqlite"
    for key in ("seconds", "bills_per_s", "baseline_rows_per_s", "ratio", "peak_rss_mb"):
        assert figures[key] > 0
    # The printed figures are rounded (ratio to 3 places, rates to whole rows/s).
    assert figures["ratio"] == pytest.approx(
        figures["bills_per_s"] / figures["baseline_rows_per_s"], rel=0.02, abs=0.002)
