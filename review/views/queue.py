"""The clinicians' review queue: filters, priority order, counts per status."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from radreview.bounds import bounded_int
from radreview.http import HtmxHttpRequest
from review import selectors
from review.permissions import review_required

PAGE_SIZE = 50
TEMPLATE = "review/queue.html"


def _offset(raw: str | None) -> int:
    """The offset of a link: a negative or malformed one is the first page."""
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


@require_GET
@review_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    filters, errors = selectors.QueueFilters.from_query(request.GET)
    try:
        offset = bounded_int(_offset(request.GET.get("offset")), name="offset")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    rows, has_next = selectors.review_queue(filters=filters, offset=offset, limit=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("offset", None)
    context = {
        "rows": rows,
        "filters": filters,
        "errors": errors,
        "counts": selectors.review_status_counts(filters=filters),
        "offset": offset,
        "next_offset": offset + PAGE_SIZE if has_next else None,
        "prev_offset": max(0, offset - PAGE_SIZE) if offset else None,
        "query": query.urlencode(),
        **selectors.queue_choices(),
    }
    return render(request, f"{TEMPLATE}#queue-table" if request.htmx else TEMPLATE, context)
