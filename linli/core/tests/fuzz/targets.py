"""What the fuzz test sends requests to: every URL the resolver knows, found by walking
it (never a hand-kept list), with each path parameter filled from the database.

A URL parameter the fuzz test cannot fill fails ``targets()`` with its name: a new page
must say here which rows its ids come from, so it is fuzzed with real ids too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver

# Who a request is sent as: a staff role (the demo's logins), an owner, or nobody.
ANON, OWNER = "anonymous", "owner"
STAFF = ("root", "admin", "manager", "manager2", "cashier", "finance", "service")

_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")

# Path parameters named for the model whose ids fill them.
_BY_NAME = {
    "unit_id": "estate.Unit",
    "payment_id": "payments.Payment",
    "community_id": "estate.Community",
    "account_id": "payments.MerchantAccount",
    "session_id": "owners.OwnerSession",
}
# ``pk`` parameters, by the URL's name.
_PK_BY_URL = {
    "billing:bill-run-reverse": "billing.BillRun",
    "billing:bill-run-job": "billing.BillRunJob",
    "counter:payment": "payments.Payment",
    "counter:order": "payments.PaymentOrder",
    "counter:order-status": "payments.PaymentOrder",
    "counter:order-close": "payments.PaymentOrder",
    "receipts:pdf": "receipts.Receipt",
    "refunds:voucher-pdf": "refunds.RefundVoucher",
    "refunds_portal:applied": "refunds.RefundApplication",
    "refunds_portal:voucher-pdf": "refunds.RefundVoucher",
    "portal:bill": "billing.Bill",
    "portal:order": "payments.PaymentOrder",
    "portal:order-status": "payments.PaymentOrder",
    "portal:order-check": "payments.PaymentOrder",
    "portal:receipt-pdf": "receipts.Receipt",
    "console:import-job": "core.ImportJob",
}
# URLs not fuzzed, and why.
_SKIP = {
    # Django's catch-all that redirects unknown console paths to the login; fuzzed
    # through every other console URL already.
    "admin:<catch-all>",
    # Redirects to a static file.
    "favicon.ico",
}


@dataclass
class Target:
    route: str  # e.g. "m/bills/<int:pk>/"
    name: str  # "namespace:name"
    params: dict[str, str] = field(default_factory=dict)  # parameter -> source
    roles: tuple[str, ...] = (ANON,)
    admin_model: str | None = None  # the model of a console (admin) page

    @property
    def kind(self) -> str:
        if self.route.startswith("m/"):
            return "portal"
        if self.route.startswith("console/"):
            return "console"
        return "public"


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}".strip(":") if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace, p


def _admin_model(pattern: URLPattern) -> str | None:
    model_admin = getattr(pattern.callback, "model_admin", None)
    if model_admin is not None:
        return model_admin.model._meta.label
    return None


def _name(namespace: str, pattern: URLPattern, route: str) -> str:
    if namespace == "admin" and route.endswith("(?P<url>.*)$"):
        return "admin:<catch-all>"
    if pattern.name:
        return f"{namespace}:{pattern.name}".strip(":")
    return f"{namespace}:{route}".strip(":")


def _source(name: str, param: str, admin_model: str | None, route: str) -> str:
    if param == "object_id" and admin_model:
        return admin_model
    if param in _BY_NAME:
        return _BY_NAME[param]
    if param == "pk" and name in _PK_BY_URL:
        return _PK_BY_URL[name]
    special = {
        ("pay:notify", "channel"): "channel",
        ("pay:sandbox-page", "out_trade_no"): "out_trade_no",
        ("receipts_public:verify", "token"): "receipt_token",
        ("portal:order-return", "key"): "order_key",
        ("admin:view_on_site", "content_type_id"): "contenttypes.ContentType",
        ("admin:view_on_site", "object_id"): "estate.Unit",
        ("admin:app_list", "app_label"): "app_label",
        ("admin:estate_person_mobile", "object_id"): "estate.Person",
    }
    if (name, param) in special:
        return special[(name, param)]
    raise LookupError(
        f"the fuzz test does not know what fills <{param}> of {name} ({route}): "
        "add it to linli/core/tests/fuzz/targets.py"
    )


def _roles(route: str) -> tuple[str, ...]:
    if route.startswith("m/"):
        return (OWNER, OWNER, OWNER, ANON, "cashier")
    if route.startswith("console/"):
        return (*STAFF, ANON, OWNER)
    return (ANON,)


def targets() -> list[Target]:
    found = []
    for route, namespace, pattern in _walk(get_resolver().url_patterns):
        name = _name(namespace, pattern, route)
        if name in _SKIP or route in _SKIP:
            continue
        admin_model = _admin_model(pattern)
        params = {}
        if route.startswith("^"):
            continue  # regex routes other than app_list: none today
        for match in _PARAM.finditer(route):
            params[match["name"]] = _source(name, match["name"], admin_model, route)
        if "(?P<app_label>" in route:
            params["app_label"] = "app_label"
        found.append(Target(route=route, name=name, params=params, roles=_roles(route),
                            admin_model=admin_model))
    return found


def ids_for(source: str) -> list[str]:
    """Real values for a path parameter (a few of each, newest and oldest)."""
    from linli.payments.models import Channel, PaymentOrder
    from linli.receipts.models import Receipt
    from linli.receipts.services import verify_token

    if source == "channel":
        return [str(c) for c in Channel.values]
    if source == "out_trade_no":
        return list(PaymentOrder.objects.values_list("out_trade_no", flat=True)[:5])
    if source == "order_key":
        keys = PaymentOrder.objects.values_list("idempotency_key", flat=True)[:5]
        return [k.split(":", 1)[-1] for k in keys if k]
    if source == "receipt_token":
        return [verify_token(r) for r in Receipt.objects.order_by("pk")[:3]]
    if source == "app_label":
        return ["estate", "billing", "payments", "refunds", "core"]
    model: type[Model] = apps.get_model(source)
    pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:3])
    pks += list(model._default_manager.order_by("-pk").values_list("pk", flat=True)[:3])
    return [str(pk) for pk in dict.fromkeys(pks)]


def fill(route: str, values: dict[str, str]) -> str:
    """The path of ``route`` with each parameter replaced by its value."""
    if "(?P<app_label>" in route:
        route = re.sub(r"\^\(\?P<app_label>[^)]*\)/\$", values["app_label"] + "/", route)
    return "/" + _PARAM.sub(lambda m: values[m["name"]], route)


def list_filters(model_label: str, user) -> dict[str, list[str]]:
    """The query parameters of a console list's filters (``list_filter``), search,
    ordering and pagination, with the values its filter choices link to."""
    from urllib.parse import parse_qsl

    from django.contrib import admin
    from django.test import RequestFactory

    model_admin = admin.site._registry.get(apps.get_model(model_label))
    if model_admin is None:
        return {}
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    query: dict[str, list[str]] = {"q": ["", "a"], "o": ["1", "-1", "1.2"], "p": ["1", "2"],
                                   "all": [""], "e": ["1"]}
    for spec in changelist.filter_specs:
        for name in spec.expected_parameters():
            query.setdefault(name, [])
        for choice in spec.choices(changelist):
            for name, value in parse_qsl((choice.get("query_string") or "").lstrip("?")):
                if name in query and value not in query[name]:
                    query[name].append(value)
    if model_admin.date_hierarchy:
        field = model_admin.date_hierarchy
        for part in ("year", "month", "day"):
            query[f"{field}__{part}"] = ["2024", "1", "31"]
    return query
