"""The receipt as a PDF: A5 landscape (half an A4 sheet), Chinese, font embedded.

Everything printed comes from the receipt's frozen snapshot, its number and its issue
time, so the same receipt prints the same way for ever. The QR code opens the public
verify page.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import pgettext
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from linli.money import format_fen
from linli.receipts.capitals import fen_to_capital
from linli.receipts.fonts import cjk_font
from linli.receipts.models import Receipt
from linli.receipts.selectors import receipt_voided

PAGE = landscape(A5)
MARGIN = 10 * mm
QR_SIZE = 26 * mm


def receipt_pdf(receipt: Receipt, *, verify_url: str) -> bytes:
    """The PDF of ``receipt``; ``verify_url`` is the absolute URL its QR code opens."""
    with translation.override("zh-hans"):
        texts = _texts(receipt)
        with cjk_font(_all_strings(texts)) as font:
            return _build(texts, font, verify_url)


def _money(fen: int) -> str:
    return format_fen(fen, symbol=False)


def _texts(receipt: Receipt) -> dict:
    """Every string the PDF shows, already translated."""
    s = receipt.snapshot
    rows = []
    for item in s.get("items", []):
        name = f"{item['fee_item']} {item['space']}".strip()
        rows.append([name, item["period"], _money(item["principal_fen"]),
                     _money(item["late_fee_fen"]) if item["late_fee_fen"] else "",
                     _money(item["principal_fen"] + item["late_fee_fen"])])
    if s.get("prepaid_fen"):
        rows.append([pgettext("receipt", "Prepaid deposit"), "", _money(s["prepaid_fen"]), "",
                     _money(s["prepaid_fen"])])
    if s.get("transaction_id"):
        handled = (pgettext("receipt", "Transaction no."), s["transaction_id"])
    else:
        handled = (pgettext("receipt", "Cashier"), s.get("cashier") or "—")
    details = [(pgettext("receipt", "Payment method"), s.get("channel_label", "")), handled]
    if s.get("reference"):
        details.append((pgettext("receipt", "Reference"), s["reference"]))
    return {
        "title": pgettext("receipt", "Receipt"),
        "company": s.get("company", ""),
        "community": s.get("community", ""),
        "number": (pgettext("receipt", "No."), receipt.number),
        "date": (pgettext("receipt", "Date"), timezone.localtime(receipt.issued_at).strftime("%Y-%m-%d")),
        "unit": (pgettext("receipt", "Unit"), s.get("unit", "")),
        "payer": (pgettext("receipt", "Payer"), s.get("payer") or "—"),
        "head": [pgettext("receipt", "Fee item"), pgettext("receipt", "Period"), pgettext("receipt", "Amount"), pgettext("receipt", "Late fee"), pgettext("receipt", "Subtotal")],
        "rows": rows,
        "total": (pgettext("receipt", "Total"), "¥" + _money(s.get("total_fen", receipt.total_fen))),
        "capital": (pgettext("receipt", "Amount in words"), fen_to_capital(s.get("total_fen", receipt.total_fen))),
        "details": details,
        "scan": pgettext("receipt", "Scan to verify"),
        "phone": s.get("company_phone", ""),
        "voided": _voided_text(receipt),
    }


def _voided_text(receipt: Receipt) -> str:
    """"已作废 2026-12-07：reason" for a voided receipt, else ""."""
    void = receipt_voided(receipt)
    if void is None:
        return ""
    day = timezone.localtime(void.voided_at).strftime("%Y-%m-%d")
    return f"{pgettext('receipt', 'Voided')} {day}：{void.reason}"


def _all_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [text for part in value for text in _all_strings(part)]
    return [str(value)]


def _build(t: dict, font: str, verify_url: str) -> bytes:
    def style(size, **kw):
        return ParagraphStyle("s", fontName=font, fontSize=size, leading=size * 1.35, **kw)

    body, small = style(9), style(8)
    right = style(9, alignment=TA_RIGHT)

    def p(text, st=body):
        return Paragraph(escape(text), st)

    def pair(label_value):
        label, value = label_value
        return p(f"{label}：{value}")

    width = PAGE[0] - 2 * MARGIN
    story = [
        p(t["company"], style(12, alignment=TA_CENTER)),
        p(t["title"], style(16, alignment=TA_CENTER, spaceBefore=2, spaceAfter=2)),
        p(t["community"], style(9, alignment=TA_CENTER)),
        Spacer(1, 3 * mm),
    ]
    if t["voided"]:
        story.insert(2, p(t["voided"], style(14, alignment=TA_CENTER, textColor=colors.red)))
    header = Table(
        [[pair(t["unit"]), pair(t["number"])], [pair(t["payer"]), pair(t["date"])]],
        colWidths=[width * 0.6, width * 0.4],
    )
    header.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(header)
    story.append(Spacer(1, 2 * mm))

    money_cols = [width * 0.16] * 3
    columns = [width - sum(money_cols) - width * 0.16, width * 0.16, *money_cols]
    data = [[p(h, small) for h in t["head"]]]
    data += [[p(r[0]), p(r[1]), p(r[2], right), p(r[3], right), p(r[4], right)]
             for r in t["rows"]]
    label, value = t["total"]
    data.append([p(label), "", "", "", p(value, right)])
    items = Table(data, colWidths=columns, repeatRows=1)
    items.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
        ("SPAN", (0, -1), (3, -1)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story.append(items)
    story.append(Spacer(1, 2 * mm))

    lines = [pair(t["capital"])] + [pair(d) for d in t["details"]]
    if t["phone"]:
        lines.append(p(t["phone"], small))
    qr = QrCodeWidget(verify_url, barLevel="M")
    x0, y0, x1, y1 = qr.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE,
                      transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(qr)
    footer = Table(
        [[[*lines], [drawing, p(t["scan"], style(7, alignment=TA_CENTER))]]],
        colWidths=[width - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm],
    )
    footer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    story.append(footer)

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=f"{t['title']} {t['number'][1]}", author=t["company"],
        invariant=1,
    )
    doc.build(story)
    return buffer.getvalue()
