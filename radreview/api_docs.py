"""/api/docs/: interactive Swagger UI when drf-spectacular-sidecar is installed
(its assets are served by this server, so the docs work offline and leak no
request to a CDN); otherwise a plain page listing every endpoint from the same
OpenAPI schema, with a link to the schema itself (/api/schema/).

Both need a signed-in user, as every page does (/api/ is outside the login
middleware, so the check is here).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def sidecar_installed() -> bool:
    return "drf_spectacular_sidecar" in settings.INSTALLED_APPS


@lru_cache(maxsize=1)
def _endpoints() -> list[dict[str, Any]]:
    """(path, method, summary, tags) of every operation; the schema is fixed per process."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    rows = []
    for path, item in schema.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation:
                # The view's docstring, first paragraph, on one line.
                paragraph = (operation.get("description") or "").strip().split("\n\n")[0]
                rows.append(
                    {
                        "path": path,
                        "method": method.upper(),
                        "tag": (operation.get("tags") or [""])[0],
                        "summary": operation.get("summary") or " ".join(paragraph.split()),
                    }
                )
    return sorted(rows, key=lambda r: (r["tag"], r["path"], HTTP_METHODS.index(r["method"].lower())))


def api_docs(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if sidecar_installed():
        # The split view serves Swagger UI's start-up script as a file (?script=):
        # the Content-Security-Policy allows no inline script.
        from drf_spectacular.views import SpectacularSwaggerSplitView

        return SpectacularSwaggerSplitView.as_view(url_name="api_schema")(request)
    return render(request, "api/docs.html", {"endpoints": _endpoints()})
