"""The clinicians' review queue: filters, priority order, counts per status.

The filter form posts (a patient id must not reach a URL, radreview.private_query):
the filters are kept under a token and the page's URL becomes ?f=<token>; to htmx
the POST answers the table and pushes that URL, without htmx it redirects there."""

from typing import Any

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import push_url

from radreview.bounds import bounded_int
from radreview.http import HtmxHttpRequest
from radreview.private_query import FILTER_PARAM, filters_query, filters_save, link_query
from review import selectors
from review.permissions import review_required

PAGE_SIZE = 50
TEMPLATE = "review/queue.html"
SCOPE = "review_queue"


def _offset(raw: str | None) -> int:
    """The offset of a link: a negative or malformed one is the first page."""
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


@require_http_methods(["GET", "POST"])
@review_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        token = filters_save(request, scope=SCOPE, data=request.POST)
        url = f"{reverse('review:queue')}?{FILTER_PARAM}={token}"
        if not request.htmx:
            return redirect(url)
        return push_url(_render(request, request.POST, token), url)
    query, token = filters_query(request, scope=SCOPE)
    return _render(request, query, token)


def _render(request: HtmxHttpRequest, query: Any, token: str) -> HttpResponse:
    filters, errors = selectors.QueueFilters.from_query(query)
    try:
        offset = bounded_int(_offset(query.get("offset")), name="offset")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    rows, has_next = selectors.review_queue(filters=filters, offset=offset, limit=PAGE_SIZE)
    context = {
        "rows": rows,
        "filters": filters,
        "errors": errors,
        "counts": selectors.review_status_counts(filters=filters),
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if has_next else None,
        "prev_offset": max(0, offset - PAGE_SIZE) if offset else None,
        # Links carry the token and the public parameters, never the patient.
        "query": link_query(request, token, drop=("offset",)),
        **selectors.queue_choices(),
    }
    return render(request, f"{TEMPLATE}#queue-table" if request.htmx else TEMPLATE, context)
