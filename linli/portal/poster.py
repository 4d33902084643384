"""The "scan to pay" poster (扫码缴费, R11): an A4 PDF per community whose QR code opens
the portal for that community (``/m/?c=<id>``), to hang in lobbies and lifts. Printed in
Chinese, with the receipts' embedded CJK font (``linli.receipts.fonts``)."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import translation
from django.utils.translation import pgettext
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from linli.estate.models import Community
from linli.receipts.fonts import cjk_font

QR_SIZE = 120 * mm


def poster_texts(community: Community) -> dict:
    with translation.override("zh-hans"):
        return {
            "company": community.company.name,
            "community": community.name,
            "title": pgettext("poster", "Scan to pay your property fees"),
            "steps": [
                pgettext("poster", "1. Scan the code with WeChat or your phone's camera"),
                pgettext("poster", "2. Sign in with your mobile number and a text-message code"),
                pgettext("poster", "3. See your bills and pay by WeChat Pay or Alipay"),
            ],
            "note": pgettext("poster", "Receipts are issued at once and can be checked by "
                                       "anyone who scans them."),
            "phone": community.company.phone or "",
        }


def poster_pdf(community: Community, *, portal_url: str) -> bytes:
    """The poster of ``community``; ``portal_url`` is the absolute URL the QR code opens."""
    texts = poster_texts(community)
    strings = [texts["company"], texts["community"], texts["title"], texts["note"],
               texts["phone"], portal_url, *texts["steps"]]
    with cjk_font(strings) as font:
        return _build(texts, font, portal_url)


def _build(t: dict, font: str, portal_url: str) -> bytes:
    def style(size, **kw):
        return ParagraphStyle("s", fontName=font, fontSize=size, leading=size * 1.4,
                              alignment=TA_CENTER, **kw)

    def p(text, size, **kw):
        return Paragraph(escape(text), style(size, **kw))

    qr = QrCodeWidget(portal_url, barLevel="M")
    x0, y0, x1, y1 = qr.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE,
                      transform=[QR_SIZE / (x1 - x0), 0, 0, QR_SIZE / (y1 - y0), 0, 0])
    drawing.add(qr)
    drawing.hAlign = "CENTER"
    story = [p(t["company"], 16), p(t["community"], 30, spaceBefore=6, spaceAfter=4),
             p(t["title"], 26, spaceAfter=10), drawing, Spacer(1, 6 * mm)]
    story += [p(step, 15, spaceAfter=2) for step in t["steps"]]
    story += [Spacer(1, 4 * mm), p(t["note"], 11), p(portal_url, 10, spaceBefore=4)]
    if t["phone"]:
        story.append(p(t["phone"], 12, spaceBefore=4))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                            topMargin=18 * mm, bottomMargin=15 * mm,
                            title=f"{t['community']} {t['title']}", author=t["company"],
                            invariant=1)
    doc.build(story)
    return buffer.getvalue()
