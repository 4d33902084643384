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


@pytest.mark.django_db
def test_the_consoles_script_texts_are_chinese_too(admin_client):
    """The two-box picker (a staff member's communities) speaks Chinese: Django's own
    catalog lacks some of its words, which linli/locale_vendor supplies."""
    catalog = admin_client.get("/console/jsi18n/").content.decode()
    for msgid in ['Choose %s by selecting them and then select the \\"Choose\\" arrow button.',
                  "Choose all %s", "Remove selected %s", "(click to clear)"]:
        assert f'"{msgid}":' in catalog, msgid
    assert "\\u9009\\u62e9\\u5168\\u90e8%s" in catalog  # 选择全部%s
