"""Small HTML pieces the console's read-only detail panels share."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _


def when(value) -> str:
    """A moment in the community's time zone, to the minute."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def link(url: str, text) -> str:
    return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, text)


def statement_link(unit_id: int) -> str:
    """The link to a unit's statement (户账)."""
    return link(reverse("unit:statement", args=[unit_id]), _("Statement"))


def table(headers, rows) -> str:
    """A plain table of already-escaped-or-plain cells (format_html escapes them)."""
    if not rows:
        return _("None")
    head = format_html_join("", "<th class='pr-4 text-left font-medium'>{}</th>",
                            ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>",
        ((format_html_join("", "<td class='pr-4 align-top'>{}</td>", ((c,) for c in row)),)
         for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
