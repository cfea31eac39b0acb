"""Property-based run of the whole REST API against its own OpenAPI schema.

schemathesis generates requests for every operation of /api/schema/ and sends
them to the WSGI application in-process (no network), signed in as an admin
with a token (the clinician's review operations as a clinician). No request may
get a 5xx or a status code the operation does not document, responses must match
the schema, and a request the schema calls valid must not be refused with a 400.
A few examples per operation keep the run under a minute; the database has a
little of everything so detail endpoints find objects.

A schema states the shape of a request, not which ids exist or that one date
comes before another: in a valid request, references to other objects (path ids
too) are replaced by ones in the database and the rules across fields that
OpenAPI 3.0 cannot state are made to hold (`_references_that_exist`), so that a
400 there is a real disagreement and most operations reach a 2xx answer.
Not reached with a 2xx (so their success bodies are checked by their own tests
only): the annotator's edits of an assignment (the admin gets a documented 403)
and the review operations on a report (no review exists in this database).

The schema itself must generate without a warning: a new APIView whose request
or response drf-spectacular cannot describe fails here first.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.db.models import Model
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from annotations.models import Assignment, EntityKey, EntityValue, Mention, Modality, Relation, Report
from inference.models import ModelVersion
from review.models import ReviewFinding, ReviewReport
from tests.annotations.factories import ReportFactory, imported_gold, modality
from tests.inference.factories import ModelVersionFactory, Stage1PredictionFactory, Stage2PredictionFactory
from tests.radreview.factories import PASSWORD

# A deeper hunt, locally: API_FUZZ_EXAMPLES=50 pytest tests/radreview/test_openapi_schemathesis.py
EXAMPLES_PER_OPERATION = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))
# The LLM self-test calls the LLM in-process (minutes on a CPU when one is
# installed, a deliberate 503 "not configured" when none is); stage 2's tests cover it.
# Jobs that other operations start are never sent to a broker here: job_enqueue
# sends on commit, and the test's transaction never commits.
SKIPPED_PATHS = ("/api/stage2/llm/test/",)
# Verifying AI findings is a clinician's act (an admin gets a documented 403): these run as a clinician.
CLINICIAN_PATHS = "^/api/review/"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    positive_data_acceptance,
]
# Generated requests only ("fuzzing"), valid and invalid alike; the coverage phase
# would send thousands of boundary cases and take minutes.
CONFIG = {
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": False},
        "stateful": {"enabled": False},
    },
    # No string in the API may hold U+0000 (PostgreSQL text cannot; radreview.nul_guard
    # answers 400, and the API's description says so).
    "generation": {"mode": "all", "allow-x00": False},
    # A 503 says what to install (no LLM is assembled here); the operations that
    # answer it document it, and status_code_conformance holds the others to theirs.
    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
}


@pytest.fixture
def admin_token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


@pytest.fixture
def clinician_token(clinician) -> str:
    return Token.objects.create(user=clinician).key


@pytest.fixture
def in_test_transaction():
    """Requests through the WSGI handler would close the test's database
    connection when they finish; Django's own test client prevents it the same way."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(db, admin_token, clinician_token, in_test_transaction):
    r1 = ReportFactory(extract=True, external_id="1", patient_id="p1")
    r2 = ReportFactory(
        extract=True,
        external_id="2",
        patient_id="p2",
        text="Metastasis, progression. 뇌전이 진행.",
        modality=modality("brain_mri"),
    )
    imported_gold(r1)
    ReportFactory(external_id="3", patient_id="p3")  # not assigned yet: an assignment can take it
    version = ModelVersionFactory(name="ct-v1", is_active=True)
    Stage1PredictionFactory(
        report=r1,
        model_version=version,
        probabilities={"nodule": 0.9},
    )
    Stage2PredictionFactory(
        report=r2,
        findings=[{"key": "metastasis", "status": "present", "kind": "diagnosis", "episode": "progression"}],
    )
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        get_wsgi_application(),
        config=schemathesis.config.SchemathesisConfig.from_dict(CONFIG),
        headers={"Authorization": f"Token {admin_token}"},
    )
    return schema


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex="|".join(SKIPPED_PATHS))
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def existing(api_schema, admin_user, annotator) -> dict[str, object]:
    """Values of the fields that name another object, taken from the database."""
    code = Modality.objects.order_by("pk").values_list("code", flat=True).first()
    version = ModelVersion.objects.order_by("pk").values_list("pk", flat=True).first()
    return {
        "modality": code,
        "modalities": [code],
        "report": Report.objects.order_by("pk").values_list("pk", flat=True).first(),
        "annotator": annotator.pk,
        "annotators": [annotator.pk],
        "annotator_a": annotator.pk,
        "annotator_b": admin_user.pk,  # agreement compares two different people
        "model_version": version,
        "candidate": version,
        "baseline": version,
        "key": EntityKey.objects.order_by("pk").values_list("pk", flat=True).first(),
        # Not the admin's: issuing a token replaces the user's old one, and the run signs in with it.
        "username": annotator.get_username(),
        "password": PASSWORD,
    }


def _path_object(path: str, name: str) -> object:
    """The first object, as it is now, that the path parameter `name` of `path` names."""
    segments = path.strip("/").split("/")
    collection = segments[segments.index("{" + name + "}") - 1]  # .../assignments/{id}/...
    model: type[Model]
    model, column = {
        "modalities": (Modality, "code"),
        "assignments": (Assignment, "pk"),
        "mentions": (Mention, "pk"),
        "relations": (Relation, "pk"),
        "entity-values": (EntityValue, "pk"),
        "models": (ModelVersion, "pk"),
        "findings": (ReviewFinding, "pk"),
    }.get(collection, (ReviewReport, "report_id") if path.startswith("/api/review/") else (Report, "pk"))
    return model._default_manager.order_by("pk").values_list(column, flat=True).first()


def _references_that_exist(case, existing: dict[str, object]) -> None:
    """In a request the schema calls valid, fields naming other objects name
    ones that exist, and rules across fields hold (see the module docstring)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    for name in list(case.path_parameters or {}):
        value = _path_object(case.path, name)
        if value is not None:
            case.path_parameters[name] = value
    for values in (case.body, case.query):
        if not isinstance(values, dict):
            continue
        for name, value in existing.items():
            if name in values and value is not None and values[name] is not None:
                values[name] = value
        if values.get("kind") == "regex" and values.get("text"):
            values["text"] = r"nodul(e|es)"  # an entity value of kind regex is a regular expression
        values.pop("init_checkpoint", None)  # a directory on the server, under its model storage
        start, end = values.get("date_from"), values.get("date_to")
        if isinstance(start, str) and isinstance(end, str) and end < start:
            values["date_from"], values["date_to"] = end, start
        if ("annotator_a" in values) != ("annotator_b" in values):  # both or neither
            values.pop("annotator_a", None)
            values.pop("annotator_b", None)
        # An assignment batch names reports that exist, a search text that they hold,
        # a sample its size; an earlier example may have assigned them already.
        if values.get("how") in ("batch", "sample", "search"):
            values |= {
                "external_ids": ["3"],
                "query": "nodule",
                "n": values.get("n") or 1,
                "only_unassigned": False,
            }


@schema.exclude(path_regex=CLINICIAN_PATHS).parametrize()
@FUZZ
def test_api_answers_every_generated_request_as_its_schema_says(case, admin_token, existing):
    _references_that_exist(case, existing)
    response = case.call(headers={"Authorization": f"Token {admin_token}"})
    case.validate_response(response, checks=CHECKS)


@schema.include(path_regex=CLINICIAN_PATHS).parametrize()
@FUZZ
def test_review_api_answers_a_clinician_as_its_schema_says(case, clinician_token, existing):
    _references_that_exist(case, existing)
    response = case.call(headers={"Authorization": f"Token {clinician_token}"})
    case.validate_response(response, checks=CHECKS)


@pytest.mark.django_db
def test_every_operation_documents_what_it_answers_on_success():
    """A success response with a typed body, or a 204 with none (a delete)."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    undocumented = []
    for path, item in paths.items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method not in item:
                continue
            successes = {code: r for code, r in item[method]["responses"].items() if code.startswith("2")}
            typed = [
                code
                for code, response in successes.items()
                if code == "204"
                or any(media.get("schema") for media in (response.get("content") or {}).values())
            ]
            if not typed:
                undocumented.append(f"{method.upper()} {path}")
    assert undocumented == []


@pytest.mark.django_db
def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")
