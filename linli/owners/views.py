"""Owner account pages under /m/account/: sign in and out, profile, homes, demo help.

Thin: read the form, call one service, show its translated refusal or move on. Every
page works without JavaScript (forms post and re-render).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from linli.core.http import client_ip
from linli.core.validators import mask_mobile
from linli.estate.models import Community, Unit
from linli.owners import selectors, services
from linli.owners.access import is_owner, owner_required
from linli.owners.bindings import binding_request_create
from linli.owners.middleware import SEEN_KEY
from linli.owners.models import BindingRequest, OwnerSession

SMS_AT_KEY = "owners_sms_at"
NEW_MOBILE_KEY = "owners_new_mobile"
# After signing in by SMS code an owner may set a new password without the old one.
FRESH_SMS_S = 10 * 60
# The community the owner arrived from (binding form); searching needs this many letters
# and shows at most this many communities.
ARRIVED_KEY = "owners_arrived_community"
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 5


def safe_next(request, default: str = "portal:home") -> str:
    """``next`` if it is a path on this site, else ``default`` (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (target.startswith("/") and not target.startswith(("//", "/\\"))
            and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure())):
        return target
    return reverse(default)


def error_messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _owner_login(request, user, method: str) -> None:
    """Sign in (Django gives the session a new key) and record the session."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    now_s = int(time.time())
    request.session[SEEN_KEY] = now_s
    if method == "sms":
        request.session[SMS_AT_KEY] = now_s
    services.owner_session_record(
        user=user, session_key=request.session.session_key, method=method,
        user_agent=request.META.get("HTTP_USER_AGENT", ""), ip=client_ip(request))


# --- sign in / out ----------------------------------------------------------------------


def signin(request):
    tab = "password" if request.GET.get("tab") == "password" else "sms"
    if request.method == "GET" and is_owner(request.user):
        return HttpResponseRedirect(safe_next(request))
    _remember_arrival_from_next(request)
    context = {"tab": tab, "next": safe_next(request), "errors": [], "notice": "",
               "mobile": "", "demo": settings.LINLI_DEMO}
    if request.method == "POST":
        if request.POST.get("form") == "password":
            context["tab"] = "password"
            done = _signin_password(request, context)
        else:
            done = _signin_sms(request, context)
        if done:
            return HttpResponseRedirect(context["next"])
    staff = request.user if request.user.is_authenticated and not is_owner(request.user) else None
    context["staff_user"] = staff
    return render(request, "owners/signin.html", context)


def _signin_sms(request, context) -> bool:
    mobile = request.POST.get("mobile", "").strip()
    code = request.POST.get("code", "").strip()
    context["mobile"] = mobile
    try:
        if request.POST.get("action") == "send" or not code:
            services.signin_code_send(mobile=mobile, ip=client_ip(request))
            context["sent"] = True
            context["notice"] = pgettext(
                "owners", "A code has been sent to %(mobile)s. It is valid for 5 minutes."
            ) % {"mobile": mask_mobile(mobile)}
            return False
        user = services.owner_signin_by_code(mobile=mobile, code=code)
    except ValidationError as exc:
        context["errors"] = error_messages(exc)
        context["sent"] = bool(code)
        return False
    _owner_login(request, user, "sms")
    return True


def _signin_password(request, context) -> bool:
    mobile = request.POST.get("mobile", "").strip()
    context["mobile"] = mobile
    try:
        user = services.owner_signin_by_password(
            mobile=mobile, password=request.POST.get("password", ""), ip=client_ip(request))
    except ValidationError as exc:
        context["errors"] = error_messages(exc)
        return False
    _owner_login(request, user, "password")
    return True


@require_POST
def signout(request):
    if request.session.session_key:
        services.owner_session_ended(session_key=request.session.session_key)
    logout(request)
    return redirect("owners:signin")


# --- profile -------------------------------------------------------------------------------


def _profile_context(request, **extra) -> dict:
    user = request.user
    return {
        "mobile_masked": mask_mobile(selectors.owner_mobile(user) or ""),
        "has_password": user.has_usable_password(),
        "current_required": _current_password_required(request),
        "prefs": selectors.owner_notifications(user),
        "sessions": selectors.owner_sessions(user),
        "current_key": request.session.session_key,
        "new_mobile": request.session.get(NEW_MOBILE_KEY, ""),
        "errors": {},
        "nav": "me",
        **extra,
    }


def _current_password_required(request) -> bool:
    sms_at = request.session.get(SMS_AT_KEY)
    return not (sms_at and time.time() - int(sms_at) < FRESH_SMS_S)


def _profile_errors(request, section: str, exc: ValidationError, **extra):
    return render(request, "owners/profile.html",
                  _profile_context(request, errors={section: error_messages(exc)}, **extra),
                  status=200)


@owner_required
def profile(request):
    return render(request, "owners/profile.html", _profile_context(request))


@owner_required
@require_POST
def phone_change(request):
    new_mobile = request.POST.get("new_mobile", "").strip()
    code = request.POST.get("code", "").strip()
    try:
        if request.POST.get("action") == "send" or not code:
            services.phone_change_code_send(user=request.user, new_mobile=new_mobile,
                                            ip=client_ip(request))
            request.session[NEW_MOBILE_KEY] = new_mobile
            messages.info(request, pgettext(
                "owners", "A code has been sent to %(mobile)s. It is valid for 5 minutes."
            ) % {"mobile": mask_mobile(new_mobile)})
            return HttpResponseRedirect(reverse("owners:profile") + "#phone")
        services.owner_phone_change(user=request.user, new_mobile=new_mobile, code=code,
                                    ip=client_ip(request))
    except ValidationError as exc:
        return _profile_errors(request, "phone", exc, new_mobile=new_mobile)
    request.session.pop(NEW_MOBILE_KEY, None)
    messages.success(request, pgettext("owners", "Your phone number is now %(mobile)s.")
                     % {"mobile": mask_mobile(selectors.owner_mobile(request.user) or "")})
    return redirect("owners:profile")


@owner_required
@require_POST
def password_set(request):
    new, again = request.POST.get("new_password", ""), request.POST.get("new_password2", "")
    try:
        if new != again:
            raise ValidationError({"new_password2": pgettext(
                "owners", "The two new passwords are not the same.")})
        services.owner_password_set(
            user=request.user, new_password=new,
            current_password=request.POST.get("current_password", ""),
            current_required=_current_password_required(request), ip=client_ip(request))
    except ValidationError as exc:
        return _profile_errors(request, "password", exc)
    # This session stays signed in; the others end (Django would refuse them anyway once
    # the password changed, so the list shows them gone too).
    old_key = request.session.session_key
    update_session_auth_hash(request, request.user)  # gives the session a new key
    services.owner_session_rekey(old_key=old_key, new_key=request.session.session_key)
    services.owner_sessions_end(user=request.user, keep_session_key=request.session.session_key,
                                ip=client_ip(request))
    messages.success(request, pgettext(
        "owners", "Your password has been saved. Your other devices have been signed out."))
    return redirect("owners:profile")


@owner_required
@require_POST
def notifications(request):
    services.owner_notifications_set(
        user=request.user, before_due="before_due" in request.POST,
        after_due="after_due" in request.POST,
        payment_results="payment_results" in request.POST)
    messages.success(request, pgettext("owners", "Your notification choices have been saved."))
    return redirect("owners:profile")


@owner_required
def session_end(request, session_id: int):
    # Someone else's session (or an ended one) is "not found", whatever the method.
    if not OwnerSession.objects.filter(user=request.user, pk=session_id,
                                       ended_at__isnull=True).exists():
        raise Http404("no such session")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.owner_sessions_end(user=request.user, session_id=session_id,
                                ip=client_ip(request))
    if not request.session.exists(request.session.session_key or ""):
        logout(request)
        return redirect("owners:signin")
    messages.success(request, pgettext("owners", "That device has been signed out."))
    return redirect("owners:profile")


@owner_required
@require_POST
def signout_everywhere(request):
    services.owner_sessions_end(user=request.user, ip=client_ip(request))
    logout(request)
    messages.success(request, pgettext("owners", "You have been signed out on every device."))
    return redirect("owners:signin")


# --- homes (binding requests) ---------------------------------------------------------------


def remember_arrival(request, value: str) -> None:
    """Remember the community the owner arrived from (a poster's ``/m/?c=<id>``, or the
    home page's "find my home" link), so the binding form can offer it."""
    if value.isdigit() and Community.objects.filter(pk=int(value)).exists():
        request.session[ARRIVED_KEY] = int(value)


def _remember_arrival_from_next(request) -> None:
    target = urlsplit(safe_next(request))
    values = parse_qs(target.query).get("c") or parse_qs(target.query).get("community")
    if values and target.path == reverse("portal:home"):
        remember_arrival(request, values[0])


def _community_search(query: str) -> list[Community]:
    """A few communities whose name contains ``query`` (at least 2 characters) — never
    the whole list of every company's communities."""
    if len(query) < SEARCH_MIN_CHARS:
        return []
    return list(Community.objects.filter(name__icontains=query).select_related("company")
                .order_by("name", "pk")[:SEARCH_LIMIT])


def _chosen_community(request, values: dict) -> Community | None:
    if request.method == "POST":
        pk = values["community"]
    elif request.GET.get("pick") or "q" in request.GET:
        return None  # "not this community": search instead
    else:
        pk = str(request.session.get(ARRIVED_KEY, ""))
    return Community.objects.filter(pk=int(pk)).first() if pk.isdigit() else None


@owner_required
def bindings(request):
    errors, values = [], {}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip()
                  for key in ("community", "building", "room", "name", "role")}
        community = _chosen_community(request, values)
        try:
            if community is None:
                raise ValidationError(pgettext("owners", "Please choose your community."))
            binding_request_create(
                user=request.user, community=community, building=values["building"],
                room=values["room"], name=values["name"], role=values["role"],
                ip=client_ip(request))
        except ValidationError as exc:
            errors = error_messages(exc)
        except PermissionDenied:
            raise Http404("not an owner") from None
        else:
            messages.success(request, pgettext(
                "owners", "Your request has been sent. The property office will review it."))
            return redirect("owners:bindings")
    else:
        remember_arrival(request, request.GET.get("community", ""))
    query = request.GET.get("q", "").strip()[:50]
    unit_ids = selectors.owner_unit_ids(request.user)
    return render(request, "owners/bindings.html", {
        "requests": selectors.owner_binding_requests(request.user),
        "units": Unit.objects.filter(pk__in=unit_ids).select_related("community", "building"),
        "community": _chosen_community(request, values),
        "query": query, "found": _community_search(query),
        "query_too_short": 0 < len(query) < SEARCH_MIN_CHARS,
        "search_min_chars": SEARCH_MIN_CHARS,
        "roles": BindingRequest.Role.choices,
        "values": values,
        "errors": errors,
        "nav": "me",
    })
