"""The console's decision dialogs (an unfold action that opens a small form): what a
page's action gives unfold, showing the form again with a service's errors, and going
back to the page afterwards. Every app's admin page uses these; none keeps a copy."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render


def dialog(title, form_class, submit) -> dict:
    """The ``dialog=`` of an unfold action: its title, form and submit button."""
    return {"title": title, "description": "", "form_class": form_class,
            "form_submit_text": submit}


def dialog_again(request, form, dialog_action) -> HttpResponse:
    """Show a dialog again with the errors a service refused its input with."""
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
