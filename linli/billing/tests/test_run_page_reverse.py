"""A bill run's own console page offers 撤销 (reverse the run) as a dialog: the reason is
asked for, only people who may reverse runs see it, and a refusal names the bills that
block it inside the dialog (issue 14). Runs name the person who made them, not their
sign-in username."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from linli import testing as t
from linli.billing.models import Bill, BillingSettings, BillRun
from linli.billing.tests.test_run_offsets import MONTH, commit
from linli.payments.models import Channel, PaymentReversal
from linli.payments.services import payment_record, prepaid_deposit
from linli.payments.tests.helpers import check_ok, fixed_fee, wallet_fen
from linli.staff.models import Role, StaffMember

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def offsetting(estate):
    """A1 bills 100 yuan a month per unit and pays new bills from prepaid balances; its
    unit has 150 yuan of prepaid balance, a second unit none."""
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"auto_offset_prepaid": True})
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.CASH,
                    idempotency_key="dep-1")
    return {**estate, "other": t.make_unit(community)}


def manager(estate, name="王建国"):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    StaffMember.objects.filter(user=user).update(display_name=name)
    return user


def dialog_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def page_of(run) -> str:
    return reverse("admin:billing_billrun_change", args=[run.pk])


def action_of(run) -> str:
    return page_of(run).replace("/change/", "/reverse-run/")


def test_the_run_page_reverses_the_run_with_a_reason(client, offsetting,
                                                     django_capture_on_commit_callbacks):
    community, unit = offsetting["a1"], offsetting["a1_unit"]
    with django_capture_on_commit_callbacks(execute=True):  # the offset, after the run
        run = commit(community)
    assert wallet_fen(unit) == 5000  # 100 of 150 offset against the run's bill
    client.force_login(manager(offsetting))
    page = client.get(page_of(run)).content.decode()
    assert action_of(run) in page and "撤销" in page
    assert client.get(action_of(run)).status_code == 200  # the dialog
    empty = client.post(action_of(run), {"reason": "", "_form_submitted": "on"}, **HTMX)
    assert empty.context["form"].errors["reason"]
    run.refresh_from_db()
    assert run.status == BillRun.Status.COMMITTED
    done = client.post(action_of(run), {"reason": "单价录错", "_form_submitted": "on"}, **HTMX)
    assert done["HX-Redirect"] == page_of(run)
    run.refresh_from_db()
    assert run.status == BillRun.Status.REVERSED and run.reversed_by.staff.display_name
    assert set(Bill.objects.filter(bill_run=run).values_list("status", flat=True)) == {
        Bill.Status.CANCELLED}
    assert PaymentReversal.objects.count() == 1 and wallet_fen(unit) == 15000
    after = client.get(page_of(run)).content.decode()
    assert action_of(run) not in after  # nothing left to reverse
    assert "王建国" in after  # who reversed it, by name
    check_ok()


def test_a_refusal_names_the_bills_in_the_dialog(client, offsetting):
    community = offsetting["a1"]
    run = commit(community)
    bill = Bill.objects.get(bill_run=run, unit=offsetting["other"])
    payment_record(acting_user=None, unit=bill.unit, channel=Channel.CASH,
                   amount_fen=bill.amount_fen, bill_ids=[bill.pk], idempotency_key="p-counter")
    client.force_login(manager(offsetting))
    response = client.post(action_of(run), {"reason": "单价录错", "_form_submitted": "on"},
                           **HTMX)
    assert response.status_code == 200
    text = dialog_text(response)
    assert f"{bill.unit} {bill.fee_item.name} {MONTH}" in text
    assert "dialog-refusal" in response.content.decode()
    run.refresh_from_db()
    assert run.status == BillRun.Status.COMMITTED
    check_ok()


def test_only_those_who_may_reverse_runs_see_it(client, offsetting):
    run = commit(offsetting["a1"])
    finance = t.make_staff(offsetting["company_a"], Role.FINANCE, [offsetting["a1"]])
    client.force_login(finance)  # may see runs, may not reverse them
    page = client.get(page_of(run))
    assert page.status_code == 200 and action_of(run) not in page.content.decode()
    refused = client.post(action_of(run), {"reason": "x", "_form_submitted": "on"}, **HTMX)
    assert refused.status_code == 200 and "dialog-refusal" in refused.content.decode()
    assert client.post(action_of(run), {"reason": "x", "_form_submitted": "on"}
                       ).status_code == 403
    other = t.make_staff(offsetting["company_b"], Role.MANAGER, [offsetting["b1"]])
    client.force_login(other)
    assert client.post(action_of(run), {"reason": "x", "_form_submitted": "on"}
                       ).status_code in (403, 404)
    run.refresh_from_db()
    assert run.status == BillRun.Status.COMMITTED


def test_run_lists_name_the_person_not_the_username(client, offsetting):
    user = manager(offsetting, name="李秀英")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    from linli.billing.services.bill_run import bill_run_commit

    run, _ = bill_run_commit(acting_user=user, community_id=offsetting["a1"].pk,
                             period_key=MONTH)
    for url in (reverse("admin:billing_billrun_changelist"), reverse("billing:bill-runs"),
                page_of(run)):
        html = client.get(url).content.decode()
        assert "李秀英" in html, url
        assert f">{user.username}<" not in html, url
