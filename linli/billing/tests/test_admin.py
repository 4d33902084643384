"""The billing console: pages render for a manager, saves go through the services, bills
are filtered and shown with their history, adjustments are asked for and approved."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linli import testing as t
from linli.billing.calculators.periods import add_months
from linli.billing.calculators.tiers import tiers_to_text
from linli.billing.models import (
    Bill,
    BillAdjustment,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    MeterReading,
    StandardRate,
)
from linli.billing.selectors import bill_with_balance, late_fee_due_fen
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit
from linli.core.models import AuditEvent
from linli.ledger.models import JournalEntry
from linli.money import format_fen
from linli.payments.models import Channel
from linli.payments.services import payment_record
from linli.staff.models import Role

START = dt.date(2024, 1, 1)
URL = "/console/billing"
# What a community manager needs on these pages (the lead moves this into staff/roles.py).
MANAGER_PERMS = [
    "view_feeitem", "add_feeitem", "change_feeitem",
    "view_chargestandard", "add_chargestandard", "change_chargestandard",
    "view_standardrate", "add_standardrate", "change_standardrate", "delete_standardrate",
    "view_binding", "add_binding", "change_binding", "delete_binding",
    "view_billingsettings", "add_billingsettings", "change_billingsettings",
    "view_billrun", "view_bill", "view_billadjustment", "add_billadjustment",
]


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing",
                                                         codename__in=codenames))
    return user


def billing_manager(estate, community_key="a1"):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate[community_key]])
    return grant(user, *MANAGER_PERMS)


def this_month():
    return timezone.localdate().replace(day=1)


def property_fee(community, *, price="2.50", late_fee=False):
    item = config.fee_item_create(acting_user=None, community=community, name="物业服务费",
                                  category="property")
    std = config.standard_create(acting_user=None, fee_item=item, name="住宅",
                                 method="building_area", due_days=30,
                                 late_fee_enabled=late_fee,
                                 late_fee_daily_rate=Decimal("0.001"))
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=Decimal(price))
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    return item, std


def run(community, month: dt.date):
    return bill_run_commit(acting_user=None, community_id=community.pk,
                           period_key=f"{month:%Y-%m}", today=timezone.localdate())


def inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{k}": "" if v is None else str(v) for k, v in row.items()})
    return data


def standard_data(fee_item=None, *, rates=(), bindings=(), initial_rates=0,
                  initial_bindings=0, **fields) -> dict:
    data = {"name": "住宅", "method": "building_area", "cycle": "monthly", "timing": "advance",
            "meter_kind": "", "due_rule": "days_after_start", "due_days": "30",
            "due_day_of_month": "15", "vacancy_percent": "", "late_fee_daily_rate": "0.0005",
            "late_fee_grace_days": "0", "late_fee_cap": "", "active": "on"}
    if fee_item is not None:
        data["fee_item"] = fee_item.pk
    data.update(fields)
    data.update(inline("rates", list(rates), initial_rates))
    data.update(inline("bindings", list(bindings), initial_bindings))
    return data


def rate_row(rate=None, **values):
    row = {"effective_from": "2024-01-01", "unit_price": "2.50", "tiers": ""}
    if rate is not None:
        row.update(id=rate.pk, standard=rate.standard_id, effective_from=rate.effective_from,
                   unit_price=rate.unit_price, tiers=tiers_to_text(rate.tiers))
    row.update(values)
    return row


def binding_row(**values):
    return {"scope": "community", "building": "", "unit_kind": "", "unit": "",
            "parking_space": "", "start_date": "2024-01-01", "end_date": "", **values}


def errors_of(response) -> str:
    context = response.context
    parts = [str(context["adminform"].form.errors)] if "adminform" in context else []
    parts += [str(fs.formset.errors) + str(fs.formset.non_form_errors())
              for fs in context.get("inline_admin_formsets", [])]
    return " ".join(parts)


# --- pages ----------------------------------------------------------------------------------

PAGES = ["feeitem", "chargestandard", "standardrate", "binding", "billingsettings", "billrun",
         "bill", "billadjustment"]


@pytest.mark.parametrize("model", PAGES)
def test_list_pages_render_for_a_manager(client, estate, model):
    community = estate["a1"]
    property_fee(community)
    run(community, this_month())
    client.force_login(billing_manager(estate))
    response = client.get(f"{URL}/{model}/")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()


def test_change_and_add_pages_render(client, estate):
    community = estate["a1"]
    item, std = property_fee(community)
    run(community, this_month())
    bill = Bill.objects.get()
    client.force_login(billing_manager(estate))
    for path in [f"feeitem/{item.pk}/change/", "feeitem/add/", f"chargestandard/{std.pk}/change/",
                 "chargestandard/add/", "billingsettings/add/", f"bill/{bill.pk}/change/",
                 f"billrun/{bill.bill_run_id}/change/"]:
        assert client.get(f"{URL}/{path}").status_code == 200, path
    # Fields that apply only to some choices follow them in the browser: the meter only
    # for metered charges, the late-fee terms once the late fee is on.
    page = client.get(f"{URL}/chargestandard/add/").content.decode()
    assert 'x-model.fill="method"' in page and 'x-model.fill="late_fee_enabled"' in page
    assert "method === &#x27;metered&#x27;" in page and "|| late_fee_enabled" in page


def test_without_billing_permissions_the_pages_are_closed(client, estate):
    no_billing = t.make_staff(estate["company_a"], Role.SERVICE, [estate["a1"]])
    no_billing.groups.clear()  # a staff login holding no role's permissions
    client.force_login(no_billing)
    assert client.get(f"{URL}/bill/").status_code == 403


# --- configuration goes through the services -------------------------------------------------


def test_console_creates_a_standard_with_its_price_and_binding(client, estate):
    community = estate["a1"]
    manager = billing_manager(estate)
    client.force_login(manager)
    response = client.post(f"{URL}/feeitem/add/", {
        "community": community.pk, "name": "物业服务费", "category": "property",
        "active": "on", "sort_order": "0", **inline("standards", []),
    })
    assert response.status_code == 302, errors_of(response)
    item = FeeItem.objects.get()
    data = standard_data(item, rates=[rate_row(unit_price="2.35")],
                         bindings=[binding_row(scope="building",
                                               building=estate["a1_building"].pk)],
                         late_fee_enabled="on", late_fee_cap="50.00")
    response = client.post(f"{URL}/chargestandard/add/", data)
    assert response.status_code == 302, errors_of(response)
    std = ChargeStandard.objects.get()
    assert std.late_fee_cap_fen == 5000
    assert StandardRate.objects.get().unit_price == Decimal("2.35")
    assert Binding.objects.get().building == estate["a1_building"]
    listing = client.get(f"{URL}/chargestandard/").content.decode()
    assert ">2.35<" in listing and "2.3500" not in listing  # the price in force, as typed
    # One audit row each, written by the services with who did it.
    for model, obj in (("feeitem", item), ("chargestandard", std),
                       ("standardrate", StandardRate.objects.get()),
                       ("binding", Binding.objects.get())):
        event = AuditEvent.objects.get(content_type__model=model, object_id=str(obj.pk))
        assert (event.actor, event.community_id, event.action) == (manager, community.pk,
                                                                    "create")


def test_staff_type_tiered_prices_one_tier_per_line(client, estate):
    item = FeeItem.objects.create(community=estate["a1"], name="水费", category="water")
    client.force_login(billing_manager(estate))
    metered = {"method": "metered", "meter_kind": "water", "timing": "arrears"}
    # A line that is neither "bound price" nor "price": refused in words, nothing written.
    response = client.post(f"{URL}/chargestandard/add/", standard_data(
        item, rates=[rate_row(unit_price="", tiers="10 3.50\n20 4 80\n6.00")], **metered))
    assert response.status_code == 200
    assert "第 2 行" in errors_of(response) and "20 4 80" in errors_of(response)
    # Bounds that do not rise: the service's reason, in Chinese.
    response = client.post(f"{URL}/chargestandard/add/", standard_data(
        item, rates=[rate_row(unit_price="", tiers="20 3.50\n10 4.80\n6.00")], **metered))
    assert "第 2 档" in errors_of(response)
    assert "unit_price" not in errors_of(response)  # the price comes from the tiers
    assert ChargeStandard.objects.count() == StandardRate.objects.count() == 0

    response = client.post(f"{URL}/chargestandard/add/", standard_data(
        item, rates=[rate_row(unit_price="", tiers="10 3.50\n20：4.80\n以上 6.00")], **metered))
    assert response.status_code == 302, errors_of(response)
    rate = StandardRate.objects.get()
    assert rate.tiers == [{"up_to": "10", "price": "3.50"}, {"up_to": "20", "price": "4.80"},
                          {"up_to": None, "price": "6.00"}]
    assert rate.unit_price == Decimal("3.50")
    # Shown again as typed (not as JSON) on the standard's page, and in words in the list.
    page = client.get(f"{URL}/chargestandard/{rate.standard_id}/change/").content.decode()
    assert "10 3.50\n20 4.80\n6.00</textarea>" in page
    assert "[{" not in page
    listing = client.get(f"{URL}/standardrate/").content.decode()
    assert "0–10: ¥3.50；10–20: ¥4.80；20 以上: ¥6.00" in listing
    # The standards' list shows the price in force as its tiers, not the first tier's price.
    standards = client.get(f"{URL}/chargestandard/").content.decode()
    assert "0–10: ¥3.50；10–20: ¥4.80；20 以上: ¥6.00" in standards


def test_a_standard_with_used_tiered_prices_saves_again(client, estate):
    community = estate["a1"]
    item = FeeItem.objects.create(community=community, name="水费", category="water")
    std = config.standard_create(acting_user=None, fee_item=item, name="阶梯水价",
                                 method="metered", meter_kind="water", timing="arrears")
    tiers = [{"up_to": "10", "price": "3.50"}, {"up_to": None, "price": "4.80"}]
    rate = config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                                    unit_price=None, tiers=tiers)
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    meter = Meter.objects.create(unit=estate["a1_unit"], community=community, kind="water")
    MeterReading.objects.create(meter=meter, community=community, period_key="2024-01",
                                value=Decimal("12"), usage=Decimal("12"))
    run(community, START)
    bill = Bill.objects.get()
    assert bill.amount_fen == 10 * 350 + 2 * 480
    client.force_login(billing_manager(estate))
    page = client.get(f"{URL}/bill/{bill.pk}/change/").content.decode()
    assert "阶梯（自 10 起）" in page and "2 × 4.80" in page  # tier by tier, as read
    later = add_months(this_month(), 1).isoformat()
    data = standard_data(
        rates=[rate_row(rate), rate_row(effective_from=later, unit_price="",
                                        tiers="10 3.80\n以上 5.20")],
        initial_rates=1, method="metered", meter_kind="water", timing="arrears", name="阶梯水价",
    )
    response = client.post(f"{URL}/chargestandard/{std.pk}/change/", data)
    assert response.status_code == 302, errors_of(response)
    rate.refresh_from_db()
    assert rate.tiers == tiers
    assert StandardRate.objects.get(effective_from=later).tiers[1] == {"up_to": None,
                                                                        "price": "5.20"}


def test_a_standard_not_metered_shows_no_tiers(client, estate):
    _item, std = property_fee(estate["a1"])
    client.force_login(billing_manager(estate))
    page = client.get(f"{URL}/chargestandard/{std.pk}/change/").content.decode()
    assert "[]</textarea>" not in page


def test_console_refuses_what_the_services_refuse(client, estate):
    item = FeeItem.objects.create(community=estate["a1"], name="装修押金", category="deposit")
    client.force_login(billing_manager(estate))
    response = client.post(f"{URL}/chargestandard/add/", standard_data(item))
    assert response.status_code == 200
    assert "method" in response.context["adminform"].form.errors
    assert ChargeStandard.objects.count() == 0


def test_a_used_price_is_read_only_in_the_console(client, estate):
    community = estate["a1"]
    _item, std = property_fee(community)
    run(community, this_month())
    rate = StandardRate.objects.get()
    binding = Binding.objects.get()
    client.force_login(billing_manager(estate))
    page = client.get(f"{URL}/chargestandard/{std.pk}/change/")
    rate_form = page.context["inline_admin_formsets"][0].formset.forms[0]
    assert rate_form.fields["unit_price"].disabled and rate_form.fields["DELETE"].disabled

    later = (add_months(this_month(), 2)).isoformat()
    data = standard_data(
        rates=[rate_row(rate, unit_price="9.99", DELETE="on"),
               rate_row(effective_from=later, unit_price="3.10")],
        bindings=[binding_row(id=binding.pk, standard=std.pk, scope="building",
                              building=estate["a1_building"].pk,
                              end_date=add_months(this_month(), 1) - dt.timedelta(days=1))],
        initial_rates=1, initial_bindings=1,
    )
    response = client.post(f"{URL}/chargestandard/{std.pk}/change/", data)
    assert response.status_code == 302, errors_of(response)
    rate.refresh_from_db()
    assert rate.unit_price == Decimal("2.5")  # the posted change and delete were ignored
    assert StandardRate.objects.filter(unit_price=Decimal("3.1")).exists()
    binding.refresh_from_db()
    # Only the end date of an existing binding may change.
    assert binding.scope == "community" and binding.end_date is not None


# --- bills ----------------------------------------------------------------------------------


@pytest.fixture
def bills(estate):
    """Bills in A1: an old overdue month with a late fee, and the coming month; one in B1."""
    a1 = estate["a1"]
    shop = t.make_unit(a1, building="9栋", area="50.00")
    property_fee(a1, late_fee=True)
    property_fee(estate["b1"])
    old, coming = dt.date(2024, 1, 1), add_months(this_month(), 1)
    run(a1, old)
    run(a1, coming)
    run(estate["b1"], coming)
    return {"old": old, "coming": coming, "shop": shop,
            "outsider": Bill.objects.get(community=estate["b1"])}


def listed(client, query="") -> set[int]:
    response = client.get(f"{URL}/bill/{query}")
    assert response.status_code == 200
    return {bill.pk for bill in response.context["cl"].result_list}


def test_bill_filters(client, estate, bills):
    client.force_login(billing_manager(estate))
    a1 = Bill.objects.filter(community=estate["a1"])
    everything = set(a1.values_list("pk", flat=True))
    assert listed(client) == everything  # B1's bill is out of scope
    old_key = f"{bills['old']:%Y-%m}"
    by = {
        f"?community__id__exact={estate['a1'].pk}": everything,
        f"?unit__building__id__exact={bills['shop'].building_id}": {
            b.pk for b in a1.filter(unit=bills["shop"])},
        f"?fee_item__id__exact={a1.first().fee_item_id}": everything,
        f"?period={old_key}": {b.pk for b in a1.filter(period_key=old_key)},
        "?overdue=yes": {b.pk for b in a1.filter(period_key=old_key)},
        "?overdue=no": {b.pk for b in a1.exclude(period_key=old_key)},
        "?status__exact=paid": set(),
        f"?q={bills['shop'].room_no}": {b.pk for b in a1.filter(unit=bills["shop"])},
        # The unit as the list shows it (building, entrance, room), spaced or not; a unit
        # of that label in another company's community stays out of sight.
        f"?q={bills['shop'].label}": {b.pk for b in a1.filter(unit=bills["shop"])},
        f"?q={bills['shop'].building.name} {bills['shop'].entrance}{bills['shop'].room_no}":
            {b.pk for b in a1.filter(unit=bills["shop"])},
        f"?q={bills['shop'].label} 物业 {old_key}": {
            b.pk for b in a1.filter(unit=bills["shop"], period_key=old_key)},
        f"?q={bills['outsider'].unit.label}": {
            b.pk for b in a1.filter(unit__building__name=bills["outsider"].unit.building.name,
                                    unit__room_no=bills["outsider"].unit.room_no)},
    }
    for query, expected in by.items():
        assert listed(client, query) == expected, query


def test_bill_list_shows_money_and_late_fee_as_of_today(client, estate, bills):
    client.force_login(billing_manager(estate))
    old = bill_with_balance(Bill.objects.get(unit=estate["a1_unit"], period_key="2024-01").pk)
    late = late_fee_due_fen(old, as_of=timezone.localdate())
    assert late > 0
    text = client.get(f"{URL}/bill/?overdue=yes").content.decode()
    assert format_fen(old.amount_fen) in text and format_fen(late) in text


def test_bill_list_query_count_does_not_grow_with_bills(client, estate, bills):
    client.force_login(billing_manager(estate))
    client.get(f"{URL}/bill/")  # warm caches (content types, sessions)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{URL}/bill/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for _ in range(8):
        t.make_unit(estate["a1"], building="9栋")
    run(estate["a1"], add_months(bills["coming"], 1))
    assert Bill.objects.filter(community=estate["a1"]).count() >= 14
    assert queries() == few
    assert few <= 15


def test_a_bill_outside_scope_answers_404(client, estate, bills):
    client.force_login(billing_manager(estate))
    outsider = bills["outsider"].pk
    assert client.get(f"{URL}/bill/{outsider}/change/").status_code == 404
    response = client.post(f"{URL}/bill/{outsider}/waive/",
                           {"amount": "1.00", "reason": "x", "_form_submitted": "on"})
    assert response.status_code == 404
    assert BillAdjustment.objects.count() == 0


def test_bill_page_shows_its_whole_history(client, estate, bills):
    manager = billing_manager(estate)
    bill = Bill.objects.get(unit=estate["a1_unit"], period_key="2024-01")
    config.standard_update(acting_user=None, standard=bill.standard, late_fee_enabled=False)
    client.force_login(manager)
    client.post(f"{URL}/bill/{bill.pk}/waive/",
                {"amount": "21.25", "reason": "维修期间减免", "_form_submitted": "on"})
    payment = payment_record(acting_user=None, unit=bill.unit, channel=Channel.CASH,
                             amount_fen=10000, bill_ids=[bill.pk], idempotency_key="p-hist",
                             reference="RCPT-77")
    text = client.get(f"{URL}/bill/{bill.pk}/change/").content.decode()
    assert "维修期间减免" in text and "¥21.25" in text  # the adjustment
    assert "RCPT-77" in text  # the payment
    assert f'href="/console/billing/units/{bill.unit_id}/statement/"' in text  # its unit's 户账
    assert "88.50" in text and "2.5" in text  # area × unit price
    # Prices and rates as people write them: ¥2.50 a m², 0.1% a day — not 2.5000, 0.001000.
    assert ">2.50<" in text and "2.5000" not in text
    assert "每天 0.1%" in text and "0.001000" not in text
    for entry in JournalEntry.objects.filter(business_key__in=[
        f"payment:{payment.pk}", f"adjustment:{BillAdjustment.objects.get().pk}",
    ]):
        assert f"/console/ledger/journalentry/{entry.pk}/change/" in text
    issue = JournalEntry.objects.get(business_key__startswith=f"billrun:{bill.bill_run_id}:")
    assert f"/console/ledger/journalentry/{issue.pk}/change/" in text
    # All of it in Chinese: the amounts, the calculation, the history and the entries' kinds.
    for words in ["仍欠", "计费方式", "单价（元）", "摘要", "出账", "减免", "收款"]:
        assert words in text, words
    for words in ["Still owed", "Unit price (yuan)", "Memo", "bill_issue", "bill_waiver"]:
        assert words not in text, words
    # The journal lists its entries' kinds in words, and filters by them.
    journal = client.get("/console/ledger/journalentry/?kind=bill_waiver")
    assert [e.kind for e in journal.context["cl"].result_list] == ["bill_waiver"]
    html = journal.content.decode()
    assert "减免" in html and "出账" in html  # the filter's choices, in words
    assert not re.search(r">\s*bill_(issue|waiver)\s*<", html)


# --- adjustments ----------------------------------------------------------------------------


def waive(client, bill, amount, reason="维修", **headers):
    return client.post(f"{URL}/bill/{bill.pk}/waive/",
                       {"amount": amount, "reason": reason, "_form_submitted": "on"}, **headers)


def test_a_small_waiver_applies_at_once(client, estate, bills):
    bill = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    client.force_login(billing_manager(estate))
    assert client.get(f"{URL}/bill/{bill.pk}/waive/").status_code == 200  # the dialog
    response = waive(client, bill, "50", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == f"{URL}/bill/{bill.pk}/change/"
    adjustment = BillAdjustment.objects.get()
    assert adjustment.status == BillAdjustment.Status.APPROVED
    assert bill_with_balance(bill.pk).owed_fen == bill.amount_fen - 5000


def test_typed_amounts_are_checked(client, estate, bills):
    bill = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    client.force_login(billing_manager(estate))
    for amount in ("12.345", "abc", "-5", "99999"):
        response = waive(client, bill, amount)
        assert response.status_code == 200 and response.context["form"].errors, amount
    assert BillAdjustment.objects.count() == 0


def test_above_the_threshold_someone_else_must_approve(client, estate, bills):
    community = estate["a1"]
    BillingSettings.objects.filter(community=community).update(approval_threshold_fen=10000)
    bill = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    requester = billing_manager(estate)
    client.force_login(requester)
    assert waive(client, bill, "150.00").status_code == 302
    adjustment = BillAdjustment.objects.get()
    assert adjustment.status == BillAdjustment.Status.PENDING
    assert bill_with_balance(bill.pk).owed_fen == bill.amount_fen
    pending = client.get(f"{URL}/billadjustment/?status__exact=pending")
    assert [a.pk for a in pending.context["cl"].result_list] == [adjustment.pk]
    # The requester may not approve (no permission) ...
    decide = f"{URL}/billadjustment/{adjustment.pk}/approve/"
    assert client.post(decide, {"note": "", "_form_submitted": "on"}).status_code == 403
    # ... nor approve their own request once allowed to approve others'.
    grant(requester, "approve_billadjustment")
    response = client.post(decide, {"note": "", "_form_submitted": "on"})
    assert response.status_code == 200 and response.context["form"].errors["note"]
    adjustment.refresh_from_db()
    assert adjustment.status == BillAdjustment.Status.PENDING

    finance = t.make_staff(estate["company_a"], Role.FINANCE, [community])
    grant(finance, "view_bill", "view_billadjustment", "approve_billadjustment")
    client.force_login(finance)
    assert client.post(decide, {"note": "同意", "_form_submitted": "on"}).status_code == 302
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.approved_by) == ("approved", finance)
    assert bill_with_balance(bill.pk).owed_fen == bill.amount_fen - 15000


def test_a_large_waiver_asked_in_pieces_still_needs_approval(client, estate, bills):
    BillingSettings.objects.filter(community=estate["a1"]).update(approval_threshold_fen=10000)
    bill = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    client.force_login(billing_manager(estate))
    for _piece in range(3):
        assert waive(client, bill, "60.00").status_code == 302
    # ¥60 applies; ¥120 and ¥180 on the same bill are above ¥100 and wait for approval.
    assert list(BillAdjustment.objects.order_by("pk").values_list("status", flat=True)) == [
        "approved", "pending", "pending"]
    assert bill_with_balance(bill.pk).owed_fen == bill.amount_fen - 6000


def test_cancel_and_late_fee_waiver_from_the_bill_page(client, estate, bills):
    old = Bill.objects.get(unit=estate["a1_unit"], period_key="2024-01")
    coming = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    BillingSettings.objects.filter(community=estate["a1"]).update(
        approval_threshold_fen=10**9)  # within the threshold: applies at once
    manager = grant(billing_manager(estate), "approve_billadjustment")
    client.force_login(manager)
    response = client.post(f"{URL}/bill/{old.pk}/waive-late-fee/",
                           {"amount": "", "reason": "疫情期间免收滞纳金", "_form_submitted": "on"})
    assert response.status_code == 302
    assert late_fee_due_fen(bill_with_balance(old.pk), as_of=timezone.localdate()) == 0
    response = client.post(f"{URL}/bill/{coming.pk}/cancel/",
                           {"reason": "重复收费", "_form_submitted": "on"})
    assert response.status_code == 302
    assert Bill.objects.get(pk=coming.pk).status == Bill.Status.CANCELLED


def test_above_the_threshold_an_approver_waits_for_someone_else_too(client, estate, bills):
    """Whoever asks never approves: an approver's own large cancellation waits."""
    BillingSettings.objects.filter(community=estate["a1"]).update(approval_threshold_fen=0)
    coming = Bill.objects.get(unit=estate["a1_unit"], period_key=f"{bills['coming']:%Y-%m}")
    manager = grant(billing_manager(estate), "approve_billadjustment")
    client.force_login(manager)
    response = client.post(f"{URL}/bill/{coming.pk}/cancel/",
                           {"reason": "重复收费", "_form_submitted": "on"})
    assert response.status_code == 302
    assert Bill.objects.get(pk=coming.pk).status == Bill.Status.UNPAID
    assert BillAdjustment.objects.get().status == BillAdjustment.Status.PENDING


# --- one-off charges from the console ---------------------------------------------------------


def test_staff_raise_a_one_off_charge_for_units_typed_by_label(client, estate):
    community = estate["a1"]
    second = t.make_unit(community, room="808")
    item = FeeItem.objects.create(community=community, name="装修押金", category="deposit")
    std = config.standard_create(acting_user=None, fee_item=item, name="装修押金",
                                 method="one_off", cycle="once")
    manager = grant(billing_manager(estate), "add_bill")
    client.force_login(manager)
    url = f"{URL}/chargestandard/{std.pk}/charge/"
    due = (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    # A label that is not a unit of the community is refused; nothing is issued.
    response = client.post(url, {"units": f"{estate['a2_unit']}", "amount": "2000",
                                 "due_date": due, "reason": "装修", "_form_submitted": "on"})
    assert response.status_code == 200 and response.context["form"].errors["units"]
    # No price yet and no amount: the service's refusal is shown on the dialog.
    response = client.post(url, {"units": str(estate["a1_unit"]), "amount": "", "due_date": due,
                                 "reason": "装修", "_form_submitted": "on"})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert Bill.objects.count() == 0

    response = client.post(url, {"units": f"{estate['a1_unit']}，{second}\n", "amount": "2000",
                                 "due_date": due, "reason": "装修押金", "_form_submitted": "on"})
    assert response.status_code == 302
    bills = Bill.objects.order_by("unit_id")
    assert [(b.unit_id, b.amount_fen) for b in bills] == [(estate["a1_unit"].pk, 200000),
                                                         (second.pk, 200000)]
    assert response["Location"].endswith(f"?period={bills[0].period_key}")
    assert bills[0].issued_by == manager


def test_raising_a_one_off_charge_needs_its_permission(client, estate):
    item = FeeItem.objects.create(community=estate["a1"], name="临时", category="other")
    std = config.standard_create(acting_user=None, fee_item=item, name="临时", method="one_off",
                                 cycle="once")
    client.force_login(billing_manager(estate))
    assert client.get(f"{URL}/chargestandard/{std.pk}/charge/").status_code == 403


def test_pending_adjustments_are_approved_in_bulk_by_someone_else(client, estate, bills):
    requester = billing_manager(estate)
    coming = f"{bills['coming']:%Y-%m}"
    for bill in Bill.objects.filter(community=estate["a1"], period_key=coming):
        client.force_login(requester)
        waive(client, bill, "101.00")
    pending = list(BillAdjustment.objects.filter(status="pending"))
    assert len(pending) == 2
    finance = grant(t.make_staff(estate["company_a"], Role.FINANCE, [estate["a1"]]),
                    "view_bill", "view_billadjustment", "approve_billadjustment")
    client.force_login(finance)
    response = client.post(f"{URL}/billadjustment/", {
        "action": "approve_selected", "_selected_action": [a.pk for a in pending]})
    assert response.status_code == 302
    assert set(BillAdjustment.objects.values_list("status", flat=True)) == {"approved"}


def test_billing_settings_take_the_threshold_in_yuan(client, estate):
    community = estate["a1"]
    manager = billing_manager(estate)
    client.force_login(manager)
    response = client.post(f"{URL}/billingsettings/add/", {
        "community": community.pk, "bill_run_day": "5", "horizon_months": "6",
        "auto_offset_prepaid": "on", "quarter_anchor_month": "1", "approval_threshold": "¥200.50",
    })
    assert response.status_code == 302, errors_of(response)
    settings = BillingSettings.objects.get(community=community)
    assert (settings.approval_threshold_fen, settings.horizon_months) == (20050, 6)
    assert AuditEvent.objects.filter(content_type__model="billingsettings", actor=manager).exists()
    page = client.get(f"{URL}/billingsettings/{settings.pk}/change/").content.decode()
    assert 'value="200.50"' in page


def test_view_only_pages_show_the_yuan_fields_in_chinese(client, estate):
    """Finance may read a standard and the billing settings but not edit them: the yuan
    fields the forms add are shown there too, labelled and formatted."""
    community = estate["a1"]
    _item, std = property_fee(community, late_fee=True)
    config.standard_update(acting_user=None, standard=std, late_fee_cap_fen=5000)
    settings_row, _created = BillingSettings.objects.get_or_create(community=community)
    BillingSettings.objects.filter(pk=settings_row.pk).update(approval_threshold_fen=20000)
    client.force_login(t.make_staff(estate["company_a"], Role.FINANCE, [community]))
    standard_page = client.get(f"{URL}/chargestandard/{std.pk}/change/").content.decode()
    assert "滞纳金上限（元）" in standard_page and "¥50.00" in standard_page
    assert "Late fee cap" not in standard_page
    settings_page = client.get(f"{URL}/billingsettings/{settings_row.pk}/change/")
    assert settings_page.status_code == 200
    html = settings_page.content.decode()
    assert "¥200.00" in html and "Approval threshold" not in html


def test_a_unit_is_picked_by_its_label_when_binding_a_standard(client, estate):
    shop = t.make_unit(estate["a1"], building="9栋", room="0101")
    t.make_unit(estate["a1"], building="9栋", room="0102")
    client.force_login(billing_manager(estate))
    response = client.get("/console/autocomplete/", {
        "term": shop.label, "app_label": "billing", "model_name": "binding",
        "field_name": "unit"})
    assert response.status_code == 200, response.content
    assert [r["text"] for r in response.json()["results"]] == [shop.label]
