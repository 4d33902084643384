"""The public verify page a receipt's QR code opens: genuine or not, with the payer's
name masked and no other personal data; anything forged or altered answers 404."""

from __future__ import annotations

import pytest
from django.core import signing
from django.urls import reverse

from linli.receipts.services import mask_name, verify_token
from linli.receipts.tests.conftest import pay


@pytest.mark.parametrize(("name", "masked"), [
    ("张三明", "张*明"), ("张三", "张*"), ("欧阳小明", "欧**明"), ("张", "*"), ("", ""),
    (" 李四 ", "李*"),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.fixture
def receipt(billed):
    return pay(billed["a1_unit"], 12345, payer_name="张三明", reference="POS-1").receipt


def verify(client, token):
    return client.get(reverse("receipts_public:verify", args=[token]))


@pytest.mark.django_db
def test_a_genuine_receipt_is_confirmed_without_personal_data(client, receipt, billed):
    response = verify(client, verify_token(receipt))
    assert response.status_code == 200
    page = response.content.decode()
    assert "真实有效的收据" in page and "收据无效" not in page
    for shown in (receipt.number, billed["a1"].name, "¥123.45", "现金", "张*明",
                  receipt.issued_at.astimezone().strftime("%Y")):
        assert shown in page, shown
    person = billed["a1_person"]
    for hidden in ("张三明", str(billed["a1_unit"]), "POS-1", person.mobile):
        assert hidden not in page, hidden


@pytest.mark.django_db
def test_no_login_is_needed(client, receipt):
    client.logout()
    assert verify(client, verify_token(receipt)).status_code == 200


@pytest.mark.django_db
def test_a_tampered_token_is_not_genuine(client, receipt, billed):
    other = pay(billed["b1_unit"], 100).receipt
    token = verify_token(receipt)
    forged_payload = signing.dumps({"i": other.pk, "n": receipt.number}, salt="other-salt")
    last = token[-1]
    for bad in (
        token[:-1] + ("A" if last != "A" else "B"),  # signature altered
        token.replace(token.split(":")[0], verify_token(other).split(":")[0]),  # swapped body
        forged_payload,  # signed for another purpose
        "nonsense",
    ):
        response = verify(client, bad)
        assert response.status_code == 404, bad
        page = response.content.decode()
        assert "收据无效" in page and receipt.number not in page


@pytest.mark.django_db
def test_a_token_naming_a_different_number_is_not_genuine(client, receipt):
    token = signing.dumps({"i": receipt.pk, "n": "2026-999999"}, salt="linli.receipts.verify")
    assert verify(client, token).status_code == 404


@pytest.mark.django_db
def test_the_url_printed_in_the_qr_code_opens_the_genuine_page(client, receipt):
    from django.test import RequestFactory

    from linli.receipts.views import verify_url

    request = RequestFactory().get("/console/receipts/1/pdf/", HTTP_HOST="wuye.example.com")
    url = verify_url(request, receipt)
    assert url.startswith("http://wuye.example.com/r/")
    response = client.get(url.removeprefix("http://wuye.example.com"))
    assert response.status_code == 200 and receipt.number in response.content.decode()


def test_the_qr_code_opens_the_public_address_when_one_is_set(rf, settings):
    from linli.core.http import public_url

    request = rf.get("/console/receipts/1/pdf/", HTTP_HOST="10.0.0.5:8000")
    assert public_url(request, "/r/abc") == "http://10.0.0.5:8000/r/abc"
    settings.LINLI_PUBLIC_URL = "https://pay.example.com"
    assert public_url(request, "/r/abc") == "https://pay.example.com/r/abc"
