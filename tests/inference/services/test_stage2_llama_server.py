"""Stage 2 end to end against a real local OpenAI-compatible server: llama-cpp-python's
own (`python -m llama_cpp.server`) on the bundled 0.5B preset when it is assembled
(`manage.py llm_install --preset qwen2.5-coder-0.5b`), else on SmolLM2-135M from its
test package; skipped when neither model or the server packages are there. A batch
job with requests in flight stores a valid prediction for every report, through the
response_format the server accepts (auto falls back from json_schema)."""

import os
import socket
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from inference.ml.llm import gguf
from inference.ml.llm.servers import LlamaServer, llama_server_available
from inference.models import Stage2Prediction
from inference.services import stage2_backend
from inference.services.stage2 import Cohort, stage2_job_create, stage2_job_work
from jobs.models import Job
from jobs.services import job_run
from tests.annotations.factories import ReportFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.django_db]

PRESET = "qwen2.5-coder-0.5b"
REPORTS = ["Findings: 8 mm nodule in RUL. No pleural effusion.", "Patchy consolidation in LLL."]


def _model() -> Path | None:
    """The 0.5B preset where llm_install puts it (RADREVIEW_TEST_LLM_GGUF overrides), or
    SmolLM2-135M from its package."""
    override = os.environ.get("RADREVIEW_TEST_LLM_GGUF")
    if override:
        return Path(override) if Path(override).is_file() else None
    root = Path(django_settings.BASE_DIR)
    for storage in (Path(django_settings.MODEL_STORAGE_DIR), root / "var" / "models"):
        path = gguf.model_path(storage / "llm", PRESET)
        if path.is_file():
            return path
    try:
        return gguf.locate_chunks(gguf.get_preset("smollm2-135m"))[0]
    except gguf.GGUFPackageMissing:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    missing = llama_server_available()
    if missing:
        pytest.skip(f"llama-cpp-python's server cannot start: {missing}")
    model = _model()
    if model is None:
        pytest.skip(f"no GGUF model: run `manage.py llm_install --preset {PRESET}`")
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = LlamaServer(model, port=_free_port(), n_ctx=2048, log_path=log)
    server.start()
    try:
        server.wait_ready(timeout=300)
    except RuntimeError:
        server.stop()
        print(log.read_text(errors="replace")[-3000:])
        raise
    yield server
    server.stop()


def test_a_batch_maps_every_report_through_the_real_server(settings, llama_server, chest_ct):
    stage2_backend.llm_backend_reset()
    settings.RADREVIEW_LLM = {
        **settings.RADREVIEW_LLM,
        "BACKEND": "openai",
        "SERVER_URL": llama_server.url,
        "MODEL": llama_server.model,
        "MAX_IN_FLIGHT": 2,
        "REPORT_TIMEOUT": 600,
        "REQUEST_TIMEOUT": 600,
    }
    reports = [ReportFactory(modality=chest_ct, text=text) for text in REPORTS]
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
    job_run(job_id=job.pk, work=stage2_job_work)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    rows = list(Stage2Prediction.objects.filter(job=job).order_by("report_id"))
    assert [row.report_id for row in rows] == [r.pk for r in reports]
    for row in rows:
        assert row.status == "ok", (row.error, row.raw_output)
        assert row.messages[0]["errors"] == []
        assert row.llm_info["backend"] == "openai_compat"
    # llama-cpp-python's server knows json_object with a schema, not json_schema.
    assert stage2_backend.llm_backend().sent_format == "json_object"
    stage2_backend.llm_backend_reset()
