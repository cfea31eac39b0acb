"""No patient id in a URL (issue 17): the pages and APIs that filter by patient take
it in a POST body and continue at ?f=<token>. Every request the test client sends
is recorded (a middleware), every URL a page renders or a response points to is
collected, and the patient id is in none; the recorded request lines are then
replayed against Django's own development server, whose access log (the format
`manage.py runserver`, which scripts/run.sh starts, writes: the request line with
path and query) must not name the patient either."""

from __future__ import annotations

import http.client
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from review.services.sync import sync_report_findings
from tests.annotations.factories import ReportFactory, modality
from tests.inference.factories import Stage2PredictionFactory, finding

pytestmark = pytest.mark.django_db

PATIENT = "PT-SECRET-7731"
REQUESTS: list[tuple[str, str]] = []  # (method, full path) of every request the app served
URL_ATTRS = re.compile(r'(?:href|action|src|hx-get|hx-post|hx-push-url)="([^"]*)"')


class RecordRequests:
    """Test middleware: notes each request's method and path with query."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        REQUESTS.append((request.method or "GET", request.get_full_path()))
        return self.get_response(request)


@pytest.fixture(autouse=True)
def recorded(settings) -> Iterator[list[tuple[str, str]]]:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.RecordRequests"]
    REQUESTS.clear()
    yield REQUESTS
    REQUESTS.clear()


@pytest.fixture
def reports():
    """The patient's reviewable chest CT and brain MRI, and another patient's."""
    text = "Small nodule in the RUL."
    mine = ReportFactory(text=text, external_id="theirs-ct", patient_id=PATIENT)
    other = ReportFactory(text=text, external_id="other-ct", patient_id="PT-OTHER")
    for report in (mine, other):
        Stage2PredictionFactory(
            report=report, findings=[finding(text, "nodule", "Small nodule", locations=[])]
        )
        sync_report_findings(report)
    brain = ReportFactory(text="Glioma, stable.", modality=modality("brain_mri"), patient_id=PATIENT)
    return mine, other, brain


def _urls(response: Any) -> list[str]:
    """Every URL the response renders or points to."""
    urls = [response.get("Location", ""), response.get("HX-Push-Url", "")]
    if not getattr(response, "streaming", False):
        urls += URL_ATTRS.findall(response.content.decode())
    return [u for u in urls if u]


def _follow(client, response: Any, seen: list[str]) -> Any:
    """The response at the end of its redirects; every URL on the way goes to `seen`."""
    seen += _urls(response)
    while response.status_code in (301, 302):
        response = client.get(response["Location"])
        seen += _urls(response)
    return response


def test_the_main_pages_filter_by_patient_without_a_patient_in_any_url(
    client, clinician, admin_user, reports, recorded
):
    seen: list[str] = []
    client.force_login(clinician)
    queue = _follow(client, client.post(reverse("review:queue"), {"patient": PATIENT}), seen)
    assert ">theirs-ct<" in queue.content.decode() and ">other-ct<" not in queue.content.decode()
    fragment = client.post(reverse("review:queue"), {"patient": PATIENT}, HTTP_HX_REQUEST="true")
    seen += _urls(fragment)
    again = client.get(fragment["HX-Push-Url"])  # the URL htmx pushes keeps the filter
    assert ">theirs-ct<" in again.content.decode() and ">other-ct<" not in again.content.decode()
    timeline = _follow(client, client.post(reverse("analytics:longitudinal"), {"patient": PATIENT}), seen)
    assert f"Patient {PATIENT}" in timeline.content.decode()

    client.force_login(admin_user)
    listing = _follow(client, client.post(reverse("annotations:report_list"), {"patient_id": PATIENT}), seen)
    assert listing.context["page"].paginator.count == 2
    export = client.post(reverse("analytics:export_download"), {"format": "note", "patient_id": PATIENT})
    assert export.status_code == 200
    assert PATIENT in b"".join(export.streaming_content).decode()
    seen += _urls(client.get(reverse("analytics:export")))

    assert seen and not [u for u in seen if PATIENT in u]
    assert recorded and not [path for _method, path in recorded if PATIENT in path]
    assert "/review/?f=" in fragment["HX-Push-Url"]


def test_the_apis_take_the_patient_in_a_post_body(client, clinician, admin_user, reports, recorded):
    client.force_login(clinician)
    queue = client.post("/api/review/queue/", {"patient": PATIENT}, content_type="application/json").json()
    assert [r["report"]["external_id"] for r in queue["results"]] == ["theirs-ct"]
    assert client.get(f"/api/review/queue/?patient={PATIENT}").status_code == 400
    client.force_login(admin_user)
    listed = client.post("/api/reports/", {"patient_id": PATIENT}, content_type="application/json").json()
    assert listed["count"] == 2
    export = client.post(
        "/api/export/", {"format": "note", "patient_id": PATIENT}, content_type="application/json"
    )
    assert export.status_code == 200 and PATIENT in b"".join(export.streaming_content).decode()
    assert client.get(f"/api/export/?format=note&patient_id={PATIENT}").status_code == 400
    assert client.get(f"/analytics/export/download/?patient_id={PATIENT}").status_code == 400
    accepted = [path for method, path in recorded if method == "POST" or "f=" in path]
    assert accepted and not [path for path in accepted if PATIENT in path]


def test_a_patient_in_an_old_link_is_ignored_not_honoured(client, clinician, reports):
    client.force_login(clinician)
    html = client.get(f"{reverse('review:queue')}?patient={PATIENT}").content.decode()
    assert ">theirs-ct<" in html and ">other-ct<" in html  # unfiltered: the link is not a way in


def test_the_development_servers_access_log_names_no_patient(client, clinician, reports, recorded):
    client.force_login(clinician)
    _follow(client, client.post(reverse("review:queue"), {"patient": PATIENT}), [])
    _follow(client, client.post(reverse("analytics:longitudinal"), {"patient": PATIENT}), [])
    lines = _access_log_lines(recorded)
    assert len(lines) == len(recorded) >= 4
    assert any('"POST /review/ HTTP/1.1"' in line for line in lines)
    assert not [line for line in lines if PATIENT in line]


def _access_log_lines(requests: list[tuple[str, str]]) -> list[str]:
    """Replay the request lines against Django's development server (runserver's
    server and handler, over a stand-in application) and return its access log."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    lines: list[str] = []
    log = logging.getLogger("django.server")  # runserver's logger (it does not propagate)
    keep, level = Keep(), log.level
    log.addHandler(keep)
    log.setLevel(logging.INFO)
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for method, path in requests:
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
            conn.request(method, path)
            conn.getresponse().read()
            conn.close()
    finally:
        server.shutdown()
        server.server_close()
        log.removeHandler(keep)
        log.setLevel(level)
    return lines
