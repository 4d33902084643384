"""Owners' to-dos on the console's home page (``linli.core.todos``): owners asking to
bind a unit (绑定房屋申请) waiting for review."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from linli.core.todos import todo
from linli.owners.bindings import DECIDE_PERMISSION
from linli.owners.models import BindingRequest


@todo("binding_requests", title=_("Home binding requests to review"),
      permission=DECIDE_PERMISSION, model="owners.BindingRequest", icon="how_to_reg",
      order=80)
def binding_requests(user, community_ids):
    return BindingRequest.objects.filter(status=BindingRequest.Status.PENDING,
                                         community_id__in=community_ids)
