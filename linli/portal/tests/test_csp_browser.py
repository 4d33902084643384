"""With the Content-Security-Policy on, a console page and portal pages still work in a
real browser (Debian's Chromium through Playwright): no CSP violation is reported, the
console's menu (Alpine.js) and the portal's script run. Screenshots go to
``$LINLI_TEST_ARTIFACTS`` like the other browser tests'."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from django.test import Client

from linli import testing as t
from linli.estate.models import Company
from linli.payments.tests.helpers import billed_unit
from linli.portal.tests.test_browser import CHROMIUM, PC, artifacts_dir, browser  # noqa: F401

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def session_cookie(user, url: str) -> dict:
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}


def open_watched(browser, cookie):  # noqa: F811 - the browser fixture
    context = browser.new_context(viewport=PC, locale="zh-CN")
    context.add_cookies([cookie])
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    return context, page, violations


@pytest.mark.django_db(transaction=True)
def test_console_and_portal_render_under_the_policy(browser, live_server):  # noqa: F811
    company = Company.objects.create(name="翠湖物业")
    community = t.make_community(company, "翠湖花园")
    unit, _bills = billed_unit(community, room="1801", periods=("2024-01",))
    person = t.make_person(community, name="王秀英")
    t.make_occupancy(unit, person)
    owner = t.make_owner(person.mobile)
    staff = User.objects.create_superuser("root", "", t.PASSWORD)

    context, page, violations = open_watched(browser, session_cookie(staff, live_server.url))
    response = page.goto(live_server.url + "/console/estate/unit/")
    assert response.status and response.status == 200
    assert "Content-Security-Policy" in {k.title() for k in response.headers}
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir() / "csp-console-units.png"), full_page=True)
    assert "1801" in page.inner_text("body")
    assert violations == []
    context.close()

    context, page, violations = open_watched(browser, session_cookie(owner, live_server.url))
    for path in ("/m/", "/m/bills/", f"/m/pay/{unit.pk}/"):
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    # portal.js ran: it marks the page as scripted.
    assert "js" in (page.get_attribute("html", "class") or "")
    page.screenshot(path=str(artifacts_dir() / "csp-portal-pay.png"), full_page=True)
    assert violations == []
    context.close()
