"""Not found, forbidden and bad request answer with our own pages, in Chinese first (with
English below) and links back to the portal and the console, not Django's English ones."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import override_settings
from django.urls import path


def _forbidden(request):
    raise PermissionDenied


def _bad(request):
    raise SuspiciousOperation("bad")


urlpatterns = [path("forbidden/", _forbidden), path("bad/", _bad)]


@pytest.mark.django_db
def test_a_missing_page_answers_in_chinese(client):
    response = client.get("/m/bills/999999999/")
    assert response.status_code in (302, 404)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    text = response.content.decode()
    assert "找不到这个页面" in text and 'href="/m/"' in text and "Not Found</h1>" not in text


@override_settings(ROOT_URLCONF=__name__)
def test_forbidden_and_bad_requests_answer_in_chinese(client):
    forbidden = client.get("/forbidden/")
    assert forbidden.status_code == 403 and "您没有权限进行这项操作" in forbidden.content.decode()
    bad = client.get("/bad/")
    assert bad.status_code == 400 and "请求有误" in bad.content.decode()
