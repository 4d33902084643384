from __future__ import annotations

import codecs

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext

from linli.core.logs import new_request_id, reset_request_id, set_request_id


class LanguageMiddleware:
    """Simplified Chinese unless the person chose another language (the language
    cookie set by the switcher). The browser's Accept-Language is deliberately
    ignored: staff and owners in China often run English-language browsers, and the
    product speaks Chinese by default."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response


class RequestIdMiddleware:
    """Gives every request an id (a proxy's well-formed ``X-Request-ID``, else a new
    one): on ``request.request_id``, on every log record written while it runs, and on
    the response's ``X-Request-ID`` header, so a person can quote it from the error page
    and the operator can find the traceback."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


def _has_nul(items) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in items)


class RejectNulMiddleware:
    """A NUL byte in the path, the query string or a form of the console or the portal
    is never meant: answer 400 before it reaches a filter or a database that cannot hold
    it (PostgreSQL refuses NUL in text). Payment notifications are left to their own
    handlers, which answer in their gateway's protocol."""

    FORM_PREFIXES = ("/console/", "/m/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.FORM_PREFIXES) and not _is_utf8(request.encoding):
            # Our pages are UTF-8; a form declared in another charset (charset=gbk) was
            # decoded with stand-ins that Django cannot encode back (a 500 in the console).
            return HttpResponseBadRequest(
                gettext("The request must be sent in UTF-8."), content_type="text/plain")
        if "\x00" in request.path or _has_nul(request.GET.lists()):
            return HttpResponseBadRequest(_bad_request_text(), content_type="text/plain")
        if request.method == "POST" and request.path.startswith(self.FORM_PREFIXES) \
                and request.content_type in _FORM_TYPES and _has_nul(request.POST.lists()):
            return HttpResponseBadRequest(_bad_request_text(), content_type="text/plain")
        return self.get_response(request)


def _is_utf8(encoding: str | None) -> bool:
    return encoding is None or codecs.lookup(encoding).name == "utf-8"


_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _bad_request_text() -> str:
    return gettext("The request holds characters that cannot be used (a NUL byte).")
