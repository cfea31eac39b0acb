"""plotly.min.js from the installed plotly package: offline, no CDN, and always
the plotly.js version the server-side figures were built for."""

from pathlib import Path

import plotly
from django.http import FileResponse, HttpRequest
from django.views.decorators.http import require_GET

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__


@require_GET
def plotly_js(request: HttpRequest) -> FileResponse:
    # The URL carries ?v=<plotly version>, so the browser may keep it for a year.
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
