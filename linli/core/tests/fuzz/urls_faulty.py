"""Two faulty pages, to show the fuzz test's checks fail when they should."""

from django.http import HttpResponseBadRequest
from django.urls import path

from linli.estate.models import Community
from linli.receipts.models import ReceiptSequence


def boom(request):
    raise RuntimeError("deliberate failure for the test")


def stray(request):
    ReceiptSequence.objects.create(community=Community.objects.first(), year=2024)
    return HttpResponseBadRequest("refused, yet a row was written")


urlpatterns = [path("boom/", boom, name="boom"), path("stray/", stray, name="stray")]
