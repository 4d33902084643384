"""Two-factor sign-in in the console: the gate that asks for the code after the password,
the page where a staff member turns it on (QR code and secret, then a code to confirm)
and gets backup codes, and where a company admin sets the company's policy and helps a
colleague who lost their phone. The rules are in ``linli.staff.twofactor``.

``TwoFactorGateMiddleware``: a staff session that signed in with a password only opens
no console page while the user has a confirmed authenticator (it is sent to the code
page), nor while their company requires one of their role and they have none (it is sent
to the page that turns it on). Signing out, the sign-in page and the language switch stay
open. A session found free of both is not checked again for ``RECHECK_S`` seconds, so
ordinary pages cost no query.
"""

from __future__ import annotations

import base64
import time

import django_otp
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from linli.console.dialogs import CONSOLE_PREFIX
from linli.core.http import client_ip
from linli.payments.qr import qr_svg
from linli.staff import twofactor as tf
from linli.staff.models import Role, StaffMember

GATE_KEY = "staff_2fa_free"
RECHECK_S = 60


def _open_paths() -> set[str]:
    return {reverse("admin:login"), reverse("admin:logout"), reverse("set_language")}


class TwoFactorGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        path = request.path_info
        if (user is None or not user.is_authenticated or not user.is_staff
                or not path.startswith(CONSOLE_PREFIX) or path in _open_paths()):
            return self.get_response(request)
        blocked = self._gate(request, user, path)
        return blocked or self.get_response(request)

    def _gate(self, request: HttpRequest, user, path: str) -> HttpResponse | None:
        if getattr(user, "is_verified", lambda: False)():
            return None
        now_s = int(time.time())
        checked = request.session.get(GATE_KEY)
        if checked is not None and now_s - int(checked) < RECHECK_S:
            return None
        verify, setup = reverse("console:two-factor-verify"), reverse("console:two-factor")
        if tf.has_two_factor(user):
            if path == verify:
                return None
            return redirect(f"{verify}?{urlencode({'next': request.get_full_path()})}")
        if tf.two_factor_required(user):
            return None if path == setup else redirect(setup)
        request.session[GATE_KEY] = now_s
        return None


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"), max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True, "class": "border rounded-md px-3 py-2"}),
    )


class PolicyForm(forms.Form):
    require_two_factor = forms.BooleanField(required=False)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("admin:index")


@require_http_methods(["GET", "POST"])
def two_factor_verify_view(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app, or a backup code."""
    user = request.user
    if not (user.is_authenticated and user.is_staff):
        return redirect("admin:login")
    if user.is_verified() or not tf.has_two_factor(user):
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tf.two_factor_verify(request=request, token=form.cleaned_data["code"],
                                 ip=client_ip(request))
        except tf.TwoFactorError as exc:
            form.add_error("code", str(exc))
        else:
            return redirect(_next_url(request))
    context = {**admin.site.each_context(request), "title": _("Two-factor sign-in"),
               "form": form, "next": _next_url(request)}
    return TemplateResponse(request, "console/two_factor_verify.html", context,
                            status=200 if not form.errors else 400)


def _spaced(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _enrol_context(request: HttpRequest, form: CodeForm) -> dict:
    device = tf.totp_enrol_start(user=request.user)
    return {
        "enrol_form": form,
        "qr": qr_svg(device.config_url, scale=5, title=_("Two-factor sign-in QR code")),
        "secret": _spaced(base64.b32encode(device.bin_key).decode()),
    }


def _company_context(request: HttpRequest) -> dict:
    staff = getattr(request.user, "staff", None)
    if staff is None or staff.role != Role.COMPANY_ADMIN:
        return {}
    colleagues = (StaffMember.objects.filter(company_id=staff.company_id, user__is_active=True)
                  .select_related("user").order_by("id"))
    enrolled = set(tf.TOTPDevice.objects.filter(
        user__staff__company_id=staff.company_id, confirmed=True).values_list("user_id", flat=True))
    return {
        "policy_form": PolicyForm(initial={"require_two_factor": tf.policy_of(staff.company)}),
        "company": staff.company,
        "colleagues": [
            {"member": m, "enrolled": m.user_id in enrolled,
             "money_role": m.role in tf.MONEY_ROLES} for m in colleagues
        ],
    }


@staff_member_required
@require_http_methods(["GET", "POST"])
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Turn two-factor sign-in on (or off), get new backup codes; for a company admin,
    the company's policy and colleagues' status."""
    user, ip = request.user, client_ip(request)
    action = request.POST.get("action") if request.method == "POST" else None
    enrol_form = CodeForm(request.POST if action == "confirm" else None)
    backup_codes = None
    if action == "confirm" and enrol_form.is_valid():
        try:
            enrolment = tf.totp_enrol_confirm(user=user, token=enrol_form.cleaned_data["code"],
                                              ip=ip)
        except tf.TwoFactorError as exc:
            enrol_form.add_error("code", str(exc))
        else:
            django_otp.login(request, enrolment.device)
            backup_codes = enrolment.backup_codes
            messages.success(request, _("Two-factor sign-in is on. From now on, signing in "
                                        "asks for a code from your app after the password."))
    elif action == "renew" and tf.has_two_factor(user):
        backup_codes = tf.backup_codes_renew(user=user, ip=ip)
    elif action in {"disable", "policy", "reset"}:
        return _act(request, action, ip)
    enrolled = tf.has_two_factor(user)
    context = {
        **admin.site.each_context(request),
        "title": _("Two-factor sign-in"),
        "enrolled": enrolled,
        "required": tf.two_factor_required(user),
        "backup_codes": backup_codes,
        "backup_left": tf.backup_codes_left(user) if enrolled else 0,
        **({} if enrolled else _enrol_context(request, enrol_form)),
        **_company_context(request),
    }
    return TemplateResponse(request, "console/two_factor.html", context,
                            status=400 if enrol_form.errors else 200)


def _act(request: HttpRequest, action: str, ip: str | None) -> HttpResponse:
    """The page's other buttons; each goes back to the page."""
    user = request.user
    if action == "disable":
        tf.two_factor_disable(acting_user=user, user=user, ip=ip)
        messages.warning(request, _("Two-factor sign-in is off."))
    elif action == "policy":
        staff = getattr(user, "staff", None)
        if staff is None:
            raise PermissionDenied
        form = PolicyForm(request.POST)
        form.is_valid()
        tf.policy_set(acting_user=user, company=staff.company, ip=ip,
                      require_two_factor=form.cleaned_data.get("require_two_factor", False))
        messages.success(request, _("The sign-in policy was saved."))
    elif action == "reset":
        pk = request.POST.get("user", "")
        if not pk.isdigit():
            raise Http404("no such staff member")
        target = get_object_or_404(User, pk=int(pk), is_staff=True)
        tf.two_factor_disable(acting_user=user, user=target, ip=ip)
        messages.success(request, _("Two-factor sign-in of %(user)s was turned off; they "
                                    "can turn it on again with a new phone.")
                         % {"user": target.get_username()})
    return redirect("console:two-factor")
