"""The refund voucher (退款凭证) as a PDF: the receipts' page size, embedded CJK font and
amount-in-words, printed from the voucher's frozen snapshot only. It names the original
receipt, which is never edited."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from linli.money import format_fen
from linli.receipts.capitals import fen_to_capital
from linli.receipts.fonts import cjk_font
from linli.receipts.pdf import MARGIN, PAGE, _all_strings
from linli.refunds.models import RefundVoucher


def voucher_pdf(voucher: RefundVoucher) -> bytes:
    with translation.override("zh-hans"):
        texts = _texts(voucher)
        with cjk_font(_all_strings(texts)) as font:
            return _build(texts, font)


def _money(fen: int) -> str:
    return format_fen(fen, symbol=False)


def _texts(voucher: RefundVoucher) -> dict:
    s = voucher.snapshot
    rows = [[f"{i['fee_item']}".strip() or i.get("basis_label", ""), i["period"],
             i.get("basis_label", ""), _money(i["amount_fen"])] for i in s.get("items", [])]
    details = [
        (pgettext("refund voucher", "Original receipt"), s.get("receipt_number") or "—"),
        (pgettext("refund voucher", "Amount paid"), "¥" + _money(s.get("paid_fen", 0))),
        (pgettext("refund voucher", "Paid back by"), s.get("channel_label", "")),
        (pgettext("refund voucher", "Refund no."), s.get("out_refund_no", "")),
    ]
    if s.get("refund_id"):
        details.append((pgettext("refund voucher", "Gateway refund id"), s["refund_id"]))
    if s.get("reference"):
        details.append((pgettext("refund voucher", "Reference"), s["reference"]))
    details.append((pgettext("refund voucher", "Reason"), s.get("reason", "")))
    return {
        "title": pgettext("refund voucher", "Refund voucher"),
        "company": s.get("company", ""),
        "community": s.get("community", ""),
        "number": (pgettext("refund voucher", "No."), voucher.number),
        "date": (pgettext("refund voucher", "Date"),
                 timezone.localtime(voucher.issued_at).strftime("%Y-%m-%d")),
        "unit": (pgettext("refund voucher", "Unit"), s.get("unit", "")),
        "payer": (pgettext("refund voucher", "Payer"), s.get("payer") or "—"),
        "head": [pgettext("refund voucher", "Fee item"), pgettext("refund voucher", "Period"),
                 pgettext("refund voucher", "Basis"), pgettext("refund voucher", "Refunded")],
        "rows": rows,
        "total": (pgettext("refund voucher", "Total refunded"),
                  "¥" + _money(s.get("total_fen", voucher.total_fen))),
        "capital": (pgettext("refund voucher", "Amount in words"),
                    fen_to_capital(s.get("total_fen", voucher.total_fen))),
        "details": details,
        "phone": s.get("company_phone", ""),
    }


def _build(t: dict, font: str) -> bytes:
    def style(size, **kw):
        return ParagraphStyle("s", fontName=font, fontSize=size, leading=size * 1.35, **kw)

    body, small, right = style(9), style(8), style(9, alignment=TA_RIGHT)

    def p(text, st=body):
        return Paragraph(escape(text), st)

    def pair(label_value):
        return p(f"{label_value[0]}：{label_value[1]}")

    width = PAGE[0] - 2 * MARGIN
    header = Table([[pair(t["unit"]), pair(t["number"])], [pair(t["payer"]), pair(t["date"])]],
                   colWidths=[width * 0.6, width * 0.4])
    header.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    data = [[p(h, small) for h in t["head"]]]
    data += [[p(r[0]), p(r[1]), p(r[2]), p(r[3], right)] for r in t["rows"]]
    data.append([p(t["total"][0]), "", "", p(t["total"][1], right)])
    items = Table(data, colWidths=[width * 0.34, width * 0.18, width * 0.28, width * 0.2])
    items.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
        ("SPAN", (0, -1), (2, -1)),
    ]))
    story = [
        p(t["company"], style(12, alignment=TA_CENTER)),
        p(t["title"], style(16, alignment=TA_CENTER, spaceBefore=2, spaceAfter=2)),
        p(t["community"], style(9, alignment=TA_CENTER)),
        Spacer(1, 3 * mm), header, Spacer(1, 2 * mm), items, Spacer(1, 2 * mm),
        pair(t["capital"]), *[pair(d) for d in t["details"]],
    ]
    if t["phone"]:
        story.append(p(t["phone"], small))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=MARGIN,
                            title=f"{t['title']} {t['number'][1]}", author=t["company"],
                            invariant=1)
    doc.build(story)
    return buffer.getvalue()
