"""A console dialog shows the service's refusal in words: a refusal that names no field
(a cashier approving a refund the policy gives to a manager) appears in the dialog
htmx swaps in, and so does a PermissionDenied an action lets escape."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from linli import testing as t
from linli.refunds.models import RefundApplication
from linli.refunds.tests.helpers import World
from linli.staff.models import Role

pytestmark = pytest.mark.django_db
CONSOLE = "/console/refunds/refundapplication"
HTMX = {"HTTP_HX_REQUEST": "true"}


def dialog_form(response) -> str:
    """What htmx swaps in: the element ``#dialog-form`` of the answer."""
    html = response.content.decode()
    assert 'id="dialog-form"' in html
    return html[html.index('id="dialog-form"'):]


def shown_refusal(response) -> str:
    found = re.search(r'class="dialog-refusal[^"]*" role="alert">(.*?)</div>',
                      dialog_form(response), re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip() if found else ""


@pytest.fixture
def application(client):
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_online(unit, bills.values())
    nxt = bills["next"]
    client.force_login(owner)
    client.post(f"/m/refunds/apply/{payment.pk}/", {
        f"pick_{nxt.pk}": "1", f"bill_{nxt.pk}": "¥100.00", "reason": "搬家"})
    return world, RefundApplication.objects.get()


def test_refusal_without_a_field_is_shown_in_the_dialog(client, application):
    world, app = application
    client.force_login(world.cashier)  # the policy names a manager
    response = client.post(f"{CONSOLE}/{app.pk}/approve/",
                           {"note": "", "_form_submitted": "on"}, **HTMX)
    assert response.status_code == 200
    text = shown_refusal(response)
    # The refunds page refuses a cashier before the service does; either way the words
    # the refusal gave are what the dialog shows.
    assert text in ("您无权进行此操作。", "You may not do this.") or text in " ".join(
        response.context["form"].non_field_errors())
    assert RefundApplication.objects.get(pk=app.pk).status == app.status


def test_permission_denied_in_a_dialog_is_shown_in_words(client, application):
    world, app = application
    service = t.make_staff(world.company, Role.SERVICE, [world.community])
    client.force_login(service)  # may see refunds, may not decide them
    response = client.post(f"{CONSOLE}/{app.pk}/approve/",
                           {"note": "同意", "_form_submitted": "on"}, **HTMX)
    assert response.status_code == 200
    assert shown_refusal(response)
    assert RefundApplication.objects.get(pk=app.pk).status == app.status


def test_without_htmx_a_permission_refusal_stays_a_403(client, application):
    world, app = application
    client.force_login(User.objects.create_user("nobody", password=t.PASSWORD, is_staff=True))
    response = client.post(f"{CONSOLE}/{app.pk}/approve/", {"note": "同意"})
    assert response.status_code in (403, 302, 404)
