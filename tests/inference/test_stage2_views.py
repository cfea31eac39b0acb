"""Stage 2 screens and REST endpoints: who may do what, and clear errors for a
misconfigured LLM."""

import pytest
from django.urls import reverse

from inference.models import Stage2Prediction
from inference.services import stage2_backend
from jobs.models import Job
from tests.annotations.factories import ReportFactory
from tests.inference.factories import CHEST_OUTPUT, CHEST_TEXT, ScriptedLLM, install

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(chest_ct):
    return ReportFactory(modality=chest_ct, text=CHEST_TEXT)


@pytest.fixture
def missing_model(settings, tmp_path):
    stage2_backend.llm_backend_reset()
    settings.MODEL_STORAGE_DIR = tmp_path
    settings.RADREVIEW_LLM = {"BACKEND": "llama_cpp", "MODEL": "qwen2.5-coder-1.5b", "CONTEXT_SIZE": 2048}


# -- one report, synchronous ------------------------------------------------------------


def test_clinician_maps_one_report_now_and_reads_it_back(client, clinician, report, monkeypatch):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    client.force_login(clinician)
    url = reverse("api_report_stage2", args=[report.pk])
    response = client.post(url, {"mode": "llm"}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["prediction"]["lesions"]["nodule"]["locations"] == ["right upper lobe"]
    assert body["messages"][0]["messages"][-1]["role"] == "user"
    listed = client.get(url).json()["predictions"]
    assert [p["id"] for p in listed] == [body["id"]]
    assert "messages" not in listed[0]


def test_annotator_may_not_run_stage2(client, annotator, report):
    client.force_login(annotator)
    url = reverse("api_report_stage2", args=[report.pk])
    assert client.post(url, {"mode": "rules"}, content_type="application/json").status_code == 403
    assert client.get(url).status_code == 403
    assert not Stage2Prediction.objects.exists()


def test_anonymous_gets_401_or_403(client, report):
    response = client.post(reverse("api_report_stage2", args=[report.pk]), {"mode": "rules"})
    assert response.status_code in (401, 403)


def test_missing_model_is_a_503_with_the_fix_not_a_stack_trace(client, clinician, report, missing_model):
    client.force_login(clinician)
    response = client.post(
        reverse("api_report_stage2", args=[report.pk]), {"mode": "llm"}, content_type="application/json"
    )
    assert response.status_code == 503
    assert "llm_install --preset qwen2.5-coder-1.5b" in response.json()["detail"]


def test_bad_mode_is_a_400(client, clinician, report):
    client.force_login(clinician)
    response = client.post(
        reverse("api_report_stage2", args=[report.pk]), {"mode": "magic"}, content_type="application/json"
    )
    assert response.status_code == 400


# -- batch runs ----------------------------------------------------------------------------


def test_admin_starts_a_run_through_the_api(client, admin_user, report, monkeypatch):
    install(monkeypatch, ScriptedLLM())
    client.force_login(admin_user)
    response = client.post(
        reverse("api_stage2_runs"), {"modality": "chest_ct", "mode": "llm"}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert job.params["mode"] == "llm" and job.params["cohort"]["modality"] == "chest_ct"
    runs = client.get(reverse("api_stage2_runs")).json()["results"]
    assert [r["job"] for r in runs] == [job.pk]


def test_clinician_may_not_start_runs(client, clinician, report):
    client.force_login(clinician)
    response = client.post(
        reverse("api_stage2_runs"), {"modality": "chest_ct", "mode": "rules"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert client.get(reverse("inference:stage2_start")).status_code == 403
    assert client.get(reverse("inference:llm_status")).status_code == 403
    assert client.get(reverse("api_stage2_llm")).status_code == 403


def test_start_form_creates_a_job(client, admin_user, report):
    client.force_login(admin_user)
    page = client.get(reverse("inference:stage2_start"))
    assert page.status_code == 200 and b"Start stage 2" in page.content
    response = client.post(
        reverse("inference:stage2_start"), {"modality": "chest_ct", "mode": "rules", "only_missing": "on"}
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.params["mode"] == "rules" and job.params["cohort"]["only_missing"] is True


def test_start_form_shows_the_configuration_error(client, admin_user, report, missing_model):
    client.force_login(admin_user)
    response = client.post(reverse("inference:stage2_start"), {"modality": "chest_ct", "mode": "llm"})
    assert response.status_code == 400
    assert b"llm_install --preset qwen2.5-coder-1.5b" in response.content
    assert not Job.objects.exists()


# -- LLM settings page -------------------------------------------------------------------------


def test_llm_page_shows_model_backend_context_and_the_configuration_error(client, admin_user, missing_model):
    client.force_login(admin_user)
    page = client.get(reverse("inference:llm_status")).content.decode()
    assert "qwen2.5-coder-1.5b" in page and "llama.cpp in process" in page and "2048 tokens" in page
    assert "is not assembled yet" in page
    tested = client.post(reverse("inference:llm_status")).content.decode()
    assert "Failed:" in tested and "llm_install" in tested


def test_llm_test_connection_reports_an_unreachable_server(client, admin_user, settings):
    stage2_backend.llm_backend_reset()
    settings.RADREVIEW_LLM = {
        "BACKEND": "openai",
        "MODEL": "llama3",
        "SERVER_URL": "http://127.0.0.1:9/v1",
        "REQUEST_TIMEOUT": 2,
    }
    client.force_login(admin_user)
    summary = client.get(reverse("api_stage2_llm")).json()
    assert (summary["backend"], summary["model"], summary["error"]) == ("openai", "llama3", None)
    response = client.post(reverse("api_stage2_llm_test"))
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]
    stage2_backend.llm_backend_reset()


def test_llm_test_connection_succeeds_with_a_working_backend(client, admin_user, monkeypatch):
    install(monkeypatch, ScriptedLLM({"Are you there?": {"ok": True}}))
    client.force_login(admin_user)
    response = client.post(reverse("api_stage2_llm_test"))
    assert response.status_code == 200 and response.json()["ok"] is True
