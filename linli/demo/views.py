"""The demo's help page (/m/account/demo-codes/): the SMS codes the demo "sent" and the
demo owners to sign in as. A real site answers 404 here."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from linli.demo.data import COMPANY_NAME, demo_owners
from linli.estate.models import Company
from linli.owners.sms import demo_latest_codes


def demo_codes(request):
    if not settings.LINLI_DEMO:
        raise Http404("not a demo")
    company = Company.objects.filter(name=COMPANY_NAME).first()
    return render(request, "demo/demo_codes.html", {
        "codes": demo_latest_codes(),
        "owners": demo_owners(company) if company else [],
    })
