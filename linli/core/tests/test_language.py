import pytest


@pytest.mark.django_db
def test_chinese_by_default_even_for_an_english_browser(client):
    page = client.get("/console/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page


@pytest.mark.django_db
def test_english_when_chosen(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/console/login/"})
    assert response.status_code == 302
    page = client.get("/console/login/").content.decode()
    assert 'lang="en"' in page
    assert "Log in" in page
