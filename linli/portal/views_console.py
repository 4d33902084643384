"""Console (staff) pages of the portal: the community poster (mounted at
``console/portal/``). Scoped like every console page: a community outside the staff
member's scope answers 404."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from linli.portal.poster import poster_pdf
from linli.staff.scope import communities_for


def portal_url_for(request, community_id: int) -> str:
    return request.build_absolute_uri(reverse("portal:home") + f"?c={community_id}")


@staff_member_required
@require_GET
def poster(request, community_id: int):
    community = (communities_for(request.user).filter(pk=community_id)
                 .select_related("company").first())
    if community is None:
        raise Http404("community not found")
    pdf = poster_pdf(community, portal_url=portal_url_for(request, community.pk))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=f"poster-{community.pk}.pdf")
    return response
