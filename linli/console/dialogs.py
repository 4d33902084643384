"""The console's decision dialogs (an unfold action that opens a small form): what a
page's action gives unfold, showing the form again with a service's errors, and going
back to the page afterwards. Every app's admin page uses these; none keeps a copy.

A refusal is always shown in words, never dropped: the dialog template (overridden in
``templates_override/unfold/helpers/dialog.html``) shows the form's non-field errors,
which is where ``dialog_again(..., refusal=exc)`` puts a service's message, and
``DialogRefusalMiddleware`` turns a ``PermissionDenied`` or ``ValidationError`` that an
action lets escape into the same message inside the open dialog."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext

CONSOLE_PREFIX = "/console/"


def dialog(title, form_class, submit) -> dict:
    """The ``dialog=`` of an unfold action: its title, form and submit button."""
    return {"title": title, "description": "", "form_class": form_class,
            "form_submit_text": submit}


def refusal_messages(exc: Exception) -> list[str]:
    """What a service's ``PermissionDenied`` or ``ValidationError`` says, in words (a
    bare ``PermissionDenied`` says that this person may not do it)."""
    messages = [str(m) for m in getattr(exc, "messages", None) or [] if str(m)]
    if not messages and str(exc):
        messages = [str(exc)]
    if not messages:
        messages = [gettext("You may not do this.")]
    return messages


def dialog_again(request, form, dialog_action, refusal: Exception | None = None) -> HttpResponse:
    """Show a dialog again with the errors a service refused its input with (those on
    fields already on ``form``; a ``refusal`` that names no field above the fields)."""
    if refusal is not None:
        form.add_error(None, "；".join(refusal_messages(refusal)))
    return render(request, "unfold/helpers/dialog.html", {
        "dialog": dialog_action.dialog, "form": form,
        "form_submit_text": dialog_action.dialog["form_submit_text"],
    })


def back_to(request, url: str) -> HttpResponse:
    """After a dialog: reload the page (htmx follows HX-Redirect; a plain post, 302)."""
    if request.headers.get("HX-Request"):
        response = HttpResponse()
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


class DialogRefusalMiddleware:
    """A dialog's request (htmx, in the console) that ends in ``PermissionDenied`` or
    ``ValidationError`` answers with the refusal inside the dialog. Without this, htmx
    drops the 403/500 and the dialog stays as it was, saying nothing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, PermissionDenied | ValidationError):
            return None
        if not (request.headers.get("HX-Request")
                and request.path_info.startswith(CONSOLE_PREFIX)):
            return None
        return render(request, "console/dialog_refused.html",
                      {"errors": refusal_messages(exception)})
