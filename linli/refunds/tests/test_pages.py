"""The pages: an owner applies in the portal for a month not yet started, a manager
approves in the console, the money goes back through the sandbox, the bill shows
refunded, the owner downloads the refund voucher; scope and refusals on the way."""

from __future__ import annotations

import pytest

from linli.billing.models import Bill
from linli.refunds.models import RefundApplication
from linli.refunds.payouts import refund_execute
from linli.refunds.tests.helpers import World, check_ok, refund_entries

pytestmark = pytest.mark.django_db
CONSOLE = "/console/refunds/refundapplication"


@pytest.fixture
def world():
    return World()


def test_owner_applies_manager_approves_owner_downloads_voucher(
        client, world, django_capture_on_commit_callbacks):
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, bills.values())
    nxt = bills["next"]

    client.force_login(owner)
    index = client.get("/m/refunds/")
    assert index.status_code == 200 and payment in index.context["payments"]
    page = client.get(f"/m/refunds/apply/{payment.pk}/")
    assert page.status_code == 200
    assert page.context["options"].line(nxt.pk).max_fen == 10000
    assert page.context["policies"]["物业服务费"]  # the policy, in words, beside the lines
    # More than the policy allows: refused with the reason, nothing written.
    refused = client.post(f"/m/refunds/apply/{payment.pk}/", {
        f"pick_{nxt.pk}": "1", f"bill_{nxt.pk}": "100.01", "reason": "搬家"})
    assert refused.status_code == 200 and refused.context["errors"]
    assert not RefundApplication.objects.exists()
    done = client.post(f"/m/refunds/apply/{payment.pk}/", {
        f"pick_{nxt.pk}": "1", f"bill_{nxt.pk}": "¥100.00", "reason": "搬家"})
    application = RefundApplication.objects.get()
    assert done.status_code == 302 and application.amount_fen == 10000
    assert not application.by_staff and application.requested_by == owner

    client.force_login(world.manager)
    queue = client.get(f"{CONSOLE}/?status__exact=submitted")
    assert [a.pk for a in queue.context["cl"].result_list] == [application.pk]
    detail = client.get(f"{CONSOLE}/{application.pk}/change/")
    assert f"/console/billing/units/{unit.pk}/statement/" in detail.content.decode()
    client.force_login(world.cashier)  # the policy names a manager: no approval offered
    assert f"{application.pk}/approve/" not in client.get(
        f"{CONSOLE}/{application.pk}/change/").content.decode()
    response = client.post(f"{CONSOLE}/{application.pk}/approve/",
                           {"note": "", "_form_submitted": "on"})
    assert response.status_code == 403
    client.force_login(world.manager)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"{CONSOLE}/{application.pk}/approve/",
                               {"note": "同意", "_form_submitted": "on"})
    assert response.status_code == 302 and callbacks
    refund_execute(application.pk)  # the queued task
    assert Bill.objects.get(pk=nxt.pk).status == Bill.Status.REFUNDED
    assert len(refund_entries()) == 1

    client.force_login(owner)
    index = client.get("/m/refunds/")
    assert "TK-" in index.content.decode()
    voucher = application.payouts.get().voucher
    pdf = client.get(f"/m/refunds/vouchers/{voucher.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    client.force_login(world.manager)
    assert client.get(f"/console/refunds/vouchers/{voucher.pk}/pdf/").status_code == 200
    check_ok()


def test_owner_cannot_see_or_apply_for_another_units_payment(client, world):
    unit, _owner = world.unit()
    _other, stranger = world.unit()
    payment = world.pay_online(unit, world.bills(unit).values())
    client.force_login(stranger)
    assert client.get(f"/m/refunds/apply/{payment.pk}/").status_code == 404
    nxt = world.bills(unit)["next"]
    assert client.post(f"/m/refunds/apply/{payment.pk}/", {
        f"pick_{nxt.pk}": "1", f"bill_{nxt.pk}": "100", "reason": "x"}).status_code == 404
    assert not RefundApplication.objects.exists()


def test_staff_apply_for_an_owner_from_the_console(client, world):
    unit, _owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"]])
    client.force_login(world.cashier)
    found = client.post(f"{CONSOLE}/apply-for-owner/",
                        {"payment": payment.receipt.number, "_form_submitted": "on"})
    assert found.status_code == 302 and found["Location"] == f"/console/refunds/apply/{payment.pk}/"
    page = client.get(found["Location"])
    assert page.status_code == 200 and page.context["options"].max_fen == 10000
    done = client.post(found["Location"], {f"pick_{bills['next'].pk}": "1",
                                           f"bill_{bills['next'].pk}": "100", "reason": "来电"})
    application = RefundApplication.objects.get()
    assert done.status_code == 302 and application.by_staff
    assert application.requested_by == world.cashier
    # Out of scope: another company's cashier finds nothing.
    other = World()
    client.force_login(other.cashier)
    assert client.get(f"/console/refunds/apply/{payment.pk}/").status_code == 404
