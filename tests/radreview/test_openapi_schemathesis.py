"""Property-based run of the whole REST API against its own OpenAPI schema.

schemathesis generates requests for every operation of /api/schema/ and sends
them to the WSGI application in-process (no network), signed in as an admin
with a token. No request may get a 5xx, and typed responses must match the
schema. A few examples per operation keep the run under a minute; the
database has a little of everything so detail endpoints find objects.

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
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.annotations.factories import ReportFactory, imported_gold, modality
from tests.inference.factories import ModelVersionFactory, Stage1PredictionFactory, Stage2PredictionFactory

# A deeper hunt, locally: API_FUZZ_EXAMPLES=50 pytest tests/radreview/test_openapi_schemathesis.py
EXAMPLES_PER_OPERATION = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))
# The LLM self-test calls the LLM in-process (minutes on a CPU when one is
# installed, a deliberate 503 "not configured" when none is); stage 2's tests cover it.
# Jobs that other operations start are never sent to a broker here: job_enqueue
# sends on commit, and the test's transaction never commits.
SKIPPED_PATHS = ("/api/stage2/llm/test/",)
# Generated requests only ("fuzzing"), valid and invalid alike; the coverage phase
# would send thousands of boundary cases and take minutes.
CONFIG = {
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": False},
        "stateful": {"enabled": False},
    },
    "generation": {"mode": "all"},
}


@pytest.fixture
def admin_token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


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
def api_schema(db, admin_token, in_test_transaction):
    r1 = ReportFactory(extract=True, external_id="1", patient_id="p1")
    r2 = ReportFactory(
        extract=True,
        external_id="2",
        patient_id="p2",
        text="Metastasis, progression. 뇌전이 진행.",
        modality=modality("brain_mri"),
    )
    imported_gold(r1)
    Stage1PredictionFactory(
        report=r1,
        model_version=ModelVersionFactory(name="ct-v1", is_active=True),
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


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_without_a_server_error(case, admin_token):
    response = case.call(headers={"Authorization": f"Token {admin_token}"})
    case.validate_response(
        response, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
    )


@pytest.mark.django_db
def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")
