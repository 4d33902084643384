"""What each role may do in the console, as Django permissions on role groups.

Scope (which communities) is separate: see ``linli.staff.scope``.
"""

from __future__ import annotations

from linli.staff.models import Role

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

# model label -> actions, per role. New domains add their models here.
ESTATE_ALL = {
    "estate.building": ALL,
    "estate.unit": ALL,
    "estate.parkingspace": ALL,
    "estate.person": ALL,
    "estate.occupancy": ALL,
}
ESTATE_VIEW = {
    "estate.community": (VIEW,),
    "estate.building": (VIEW,),
    "estate.unit": (VIEW,),
    "estate.parkingspace": (VIEW,),
    "estate.person": (VIEW,),
    "estate.occupancy": (VIEW,),
}
# Setting up fees and issuing bills. Adding an adjustment is asking for one (above the
# threshold it waits for approval). Adding a bill is raising a one-off charge: only a
# company admin may (see COMPANY_ADMIN).
BILLING_MANAGE = {
    "billing.feeitem": (VIEW, ADD, CHANGE),
    "billing.chargestandard": (VIEW, ADD, CHANGE),
    "billing.standardrate": ALL,
    "billing.binding": ALL,
    "billing.billingsettings": (VIEW, ADD, CHANGE),
    "billing.billrun": (VIEW, ADD, CHANGE),  # change = reverse a run
    "billing.bill": (VIEW,),
    "billing.billadjustment": (VIEW, ADD),
    "billing.meter": (VIEW, ADD, CHANGE),
    "billing.meterreading": (VIEW, ADD, CHANGE),
}
BILLING_VIEW = {label: (VIEW,) for label in BILLING_MANAGE}
# Taking money at the counter (payments and prepaid deposits). Payments are never
# changed or deleted: corrections are refunds.
PAYMENTS_TAKE = {
    "payments.payment": (VIEW, ADD),
    "payments.prepaidwallet": (VIEW,),
    "payments.prepaidmovement": (VIEW,),
    "receipts.receipt": (VIEW,),
    "payments.paymentorder": (VIEW,),
    "payments.paymentanomaly": (VIEW,),
}
PAYMENTS_VIEW = {label: (VIEW,) for label in PAYMENTS_TAKE}
# Online payments: raw gateway notifications, anomalies to resolve, merchant settings.
PAYMENTS_ONLINE_FINANCE = {
    "payments.paymentanomaly": (VIEW, CHANGE),  # change = resolve
    "payments.gatewaynotification": (VIEW,),
    "payments.notificationdroptally": (VIEW,),  # rejected deliveries counted, not stored
    "payments.orderrefund": (VIEW,),
    "payments.merchantaccount": (VIEW,),
    "payments.communitypaymentsettings": (VIEW,),
}

# Refund applications: change = approve / reject / retry / record a counter payout. Who
# may approve which amount is decided further by each community's refund policy.
REFUNDS_REVIEW = {
    "refunds.refundapplication": (VIEW, ADD, CHANGE),
    "refunds.refundpayout": (VIEW,),
    "refunds.refundvoucher": (VIEW,),
    "refunds.refundpolicy": (VIEW,),
    "refunds.duplicaterefund": (VIEW,),  # resolving needs change_refundapplication
}

ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    Role.COMPANY_ADMIN: {
        **ESTATE_ALL,
        "estate.community": (VIEW, ADD, CHANGE),
        **BILLING_MANAGE,
        "billing.bill": (VIEW, ADD),
        **PAYMENTS_TAKE,
        **PAYMENTS_ONLINE_FINANCE,
        "payments.merchantaccount": (VIEW, ADD, CHANGE),
        "payments.communitypaymentsettings": (VIEW, ADD, CHANGE),
        # Staff leave by being deactivated, never deleted: the audit log points at them.
        "staff.staffmember": (VIEW, ADD, CHANGE),
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
        "owners.bindingrequest": (VIEW, CHANGE),  # change = approve / reject
        **REFUNDS_REVIEW,
        "refunds.refundpolicy": (VIEW, ADD, CHANGE),
    },
    Role.MANAGER: {
        **ESTATE_ALL,
        "estate.community": (VIEW, CHANGE),
        **BILLING_MANAGE,
        **PAYMENTS_TAKE,
        "owners.bindingrequest": (VIEW, CHANGE),
        **REFUNDS_REVIEW,
        "refunds.refundpolicy": (VIEW, ADD, CHANGE),
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
    },
    Role.CASHIER: {
        **ESTATE_VIEW,
        "billing.feeitem": (VIEW,),
        "billing.chargestandard": (VIEW,),
        "billing.bill": (VIEW,),
        "billing.meter": (VIEW,),
        "billing.meterreading": (VIEW,),
        **PAYMENTS_TAKE,
        **REFUNDS_REVIEW,
    },
    Role.FINANCE: {
        **ESTATE_VIEW,
        **BILLING_VIEW,
        **PAYMENTS_VIEW,
        **PAYMENTS_ONLINE_FINANCE,
        **REFUNDS_REVIEW,
        "core.auditevent": (VIEW,),
        "ledger.journalentry": (VIEW,),
    },
    Role.SERVICE: {
        **ESTATE_VIEW,
        "estate.person": (VIEW, ADD, CHANGE),
        "estate.occupancy": (VIEW, ADD, CHANGE),
        "owners.bindingrequest": (VIEW, CHANGE),
        "refunds.refundapplication": (VIEW, ADD),  # apply for an owner
        # To answer owners' questions about their bills.
        "billing.feeitem": (VIEW,),
        "billing.bill": (VIEW,),
    },
}

# Custom permissions that are not model CRUD.
# estate.view_person_mobile: the full mobile numbers of people, for the roles that call
# owners (each view is recorded in the audit log); everyone else sees them masked.
ROLE_EXTRA_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.COMPANY_ADMIN: ("estate.import_estate", "billing.approve_billadjustment",
                         "estate.view_person_mobile"),
    Role.MANAGER: ("estate.import_estate", "estate.view_person_mobile"),
    Role.FINANCE: ("billing.approve_billadjustment",),
    Role.SERVICE: ("estate.view_person_mobile",),
}


def group_name(role: str) -> str:
    return f"role:{role}"


def sync_role_groups(*, using: str = "default", **kwargs) -> None:
    """Make each role's group hold exactly the permissions listed above (idempotent).

    Runs after the staff app migrates, which is before the apps listed after it in
    INSTALLED_APPS (ledger, billing, ...) have their permissions created: create every
    app's permissions first, or those would silently be missing from the groups.
    """
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)

    wanted_by_role: dict[str, set[tuple[str, str]]] = {}
    for role, models in ROLE_PERMISSIONS.items():
        wanted = wanted_by_role.setdefault(role, set())
        for label, actions in models.items():
            app_label, model = label.split(".")
            wanted.update((app_label, f"{action}_{model}") for action in actions)
    for role, perms in ROLE_EXTRA_PERMISSIONS.items():
        wanted_by_role.setdefault(role, set()).update(tuple(p.split(".")) for p in perms)

    for role, wanted in wanted_by_role.items():
        group, _ = Group.objects.using(using).get_or_create(name=group_name(role))
        perms = [
            p
            for p in Permission.objects.using(using).select_related("content_type")
            if (p.content_type.app_label, p.codename) in wanted
        ]
        group.permissions.set(perms)
