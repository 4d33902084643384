"""The receipt PDF: a real PDF whose text (Chinese included) can be read back, with its
Chinese font embedded, printed from the frozen snapshot; and the console URL that
serves it only to staff of the receipt's community."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from pypdf import PdfReader

from linli import testing as t
from linli.billing.models import FeeItem
from linli.receipts.fonts import cjk_otf_bytes
from linli.receipts.pdf import receipt_pdf
from linli.receipts.tests.conftest import pay


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def fonts_of(pdf: bytes) -> list[dict]:
    """Every font the PDF's pages use: name, subtype, and whether its file is embedded."""
    result = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
            for f in fonts:
                descriptor = f.get("/FontDescriptor")
                descriptor = descriptor.get_object() if descriptor else {}
                result.append({
                    "name": str(f.get("/BaseFont")), "subtype": str(f.get("/Subtype")),
                    "embedded": any(k in descriptor for k in ("/FontFile", "/FontFile2",
                                                               "/FontFile3")),
                    "truetype": "/FontFile2" in descriptor,
                })
    return result


@pytest.fixture
def receipt(billed):
    cashier = t.make_staff(billed["company_a"], "cashier", [billed["a1"]])
    return pay(billed["a1_unit"], 12345 + 12345 + 1000, acting_user=cashier,
               payer_name="张三明").receipt


@pytest.mark.django_db
def test_pdf_shows_the_receipt_in_chinese(receipt, billed):
    pdf = receipt_pdf(receipt, verify_url="https://linli.example/r/token")
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    for expected in ["收据", billed["company_a"].name, billed["a1"].name, receipt.number,
                     str(billed["a1_unit"]), "张三明", "物业服务费", "2026-01", "2026-02",
                     "123.45", "预存款", "10.00", "¥256.90", "贰佰伍拾陆元玖角", "现金",
                     receipt.snapshot["cashier"], "扫码验真", "大写"]:
        assert expected in text, expected


@pytest.mark.django_db
def test_the_chinese_font_is_embedded_as_truetype(receipt):
    assert cjk_otf_bytes() is not None, "pylopdf-fonts-zh-cn must be installed"
    fonts = fonts_of(receipt_pdf(receipt, verify_url="https://linli.example/r/token"))
    cjk = [f for f in fonts if "NotoSansSC" in f["name"]]
    assert cjk and all(f["embedded"] and f["truetype"] for f in cjk)
    # No non-embedded CID font (such as STSong-Light) carries any of the text.
    assert not [f for f in fonts if f["subtype"] in ("/CIDFontType0", "/Type0")
                and not f["embedded"]]


@pytest.mark.django_db
def test_the_pdf_never_changes_when_the_data_does(receipt, billed):
    before = receipt_pdf(receipt, verify_url="https://linli.example/r/token")
    FeeItem.objects.filter(community=billed["a1"]).update(name="改名后的收费项目")
    unit = billed["a1_unit"]
    unit.room_no = "9999"
    unit.save()
    billed["a1"].name = "改名小区"
    billed["a1"].save()
    receipt.refresh_from_db()
    after = receipt_pdf(receipt, verify_url="https://linli.example/r/token")
    assert after == before
    assert "改名" not in text_of(after)


@pytest.fixture
def cashier_client(billed, client):
    user = t.make_staff(billed["company_a"], "cashier", [billed["a1"]])
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_console_serves_the_pdf_to_staff_of_the_community(receipt, cashier_client):
    response = cashier_client.get(reverse("receipts:pdf", args=[receipt.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert receipt.number in response["Content-Disposition"]
    assert receipt.number in text_of(response.content)


@pytest.mark.django_db
def test_another_communitys_receipt_is_not_found(billed, cashier_client):
    other = pay(billed["b1_unit"], 100).receipt  # company B
    sibling = pay(t.make_unit(billed["a2"]), 100).receipt  # same company, not assigned
    for receipt in (other, sibling):
        assert cashier_client.get(reverse("receipts:pdf", args=[receipt.pk])).status_code == 404
    assert cashier_client.get(reverse("receipts:pdf", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_the_pdf_needs_the_view_payment_permission(receipt, billed, client):
    service = t.make_staff(billed["company_a"], "service", [billed["a1"]])
    client.force_login(service)
    url = reverse("receipts:pdf", args=[receipt.pk])
    assert client.get(url).status_code == 403
    service.user_permissions.add(
        Permission.objects.get(content_type__app_label="payments", codename="view_payment"))
    client.force_login(service)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302  # to the console login


@pytest.mark.django_db
def test_console_lists_receipts_with_their_pdf_and_shows_one_read_only(receipt, cashier_client,
                                                                        billed):
    other = pay(billed["b1_unit"], 100).receipt
    response = cashier_client.get(reverse("admin:receipts_receipt_changelist"),
                                  {"q": receipt.number})
    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == [receipt.pk]
    assert other.pk not in [r.pk for r in response.context["cl"].result_list]
    assert reverse("receipts:pdf", args=[receipt.pk]) in response.content.decode()
    detail = cashier_client.get(reverse("admin:receipts_receipt_change", args=[receipt.pk]))
    page = detail.content.decode()
    assert detail.status_code == 200
    assert "贰佰伍拾陆元玖角" in page and "物业服务费" in page and 'name="_save"' not in page
    assert cashier_client.get(
        reverse("admin:receipts_receipt_change", args=[other.pk])).status_code == 404
    assert cashier_client.post(
        reverse("admin:receipts_receipt_delete", args=[receipt.pk]), {"post": "yes"}
    ).status_code == 403
    payment = cashier_client.get(reverse("admin:payments_payment_change",
                                         args=[receipt.payment_id])).content.decode()
    assert reverse("receipts:pdf", args=[receipt.pk]) in payment  # the payment links its receipt


def test_each_documents_font_has_its_own_characters_whatever_came_before():
    from reportlab.pdfbase import pdfmetrics

    from linli.receipts.fonts import cjk_font

    for text in ("张三明", "欧阳娜娜", "璟瑄"):
        with cjk_font([text]) as name:
            glyphs = pdfmetrics.getFont(name).face.charToGlyph
            assert all(ord(char) in glyphs for char in text), text
