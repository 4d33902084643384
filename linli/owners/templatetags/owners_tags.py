"""A readable name for a browser, for the profile's session list."""

from __future__ import annotations

from django import template
from django.utils.translation import pgettext

register = template.Library()

# (substring of the user agent, label), first match wins within each list.
_APPS = (("MicroMessenger", "WeChat"), ("AlipayClient", "Alipay"), ("Edg/", "Edge"),
         ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("HarmonyOS", "HarmonyOS"),
            ("Android", "Android"), ("Windows", "Windows"), ("Mac OS X", "Mac"),
            ("Linux", "Linux"))


@register.filter
def device_label(user_agent: str) -> str:
    ua = user_agent or ""
    app = next((label for needle, label in _APPS if needle in ua), "")
    system = next((label for needle, label in _SYSTEMS if needle in ua), "")
    return " · ".join(part for part in (system, app) if part) or pgettext(
        "owners", "Unknown device")
