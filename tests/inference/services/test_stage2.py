"""Stage 2 on stored reports with a recorded-output LLM: storage, hints, failures,
time limits, retries, the rule baseline and configuration errors."""

import json

import pytest

from inference.ml.llm.backends import LLMConfigError
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services import stage2_backend
from inference.services.stage2 import RetryPolicy, Stage2Error, stage2_plan, stage2_predict_report
from tests.annotations.factories import ReportFactory
from tests.inference.factories import CHEST_OUTPUT, CHEST_TEXT, ScriptedLLM, flaky, install

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(chest_ct):
    return ReportFactory(modality=chest_ct, text=CHEST_TEXT)


def test_llm_result_is_stored_with_prompt_raw_output_and_evidence_offsets(monkeypatch, report):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    prediction = stage2_predict_report(report=report, mode="llm")
    assert prediction.status == Stage2Prediction.Status.OK
    assert prediction.parsed == {
        "lesions": {
            "nodule": {"status": "present", "locations": ["right upper lobe"]},
            "pleural effusion": {"status": "negated", "locations": ["pleura"]},
        }
    }
    nodule = next(f for f in prediction.findings if f["key"] == "nodule")
    start, end = nodule["evidence_span"]
    assert CHEST_TEXT[start:end] == "8 mm nodule in the RUL"
    (step,) = prediction.messages
    assert step["task"] == "chest_ct_relations"
    assert [m["role"] for m in step["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "8 mm nodule in the RUL" in step["messages"][-1]["content"]
    assert "### Target Lesions" not in step["messages"][-1]["content"]
    assert prediction.raw_output.startswith("{")
    assert prediction.hint is None and prediction.attempts == 1
    assert prediction.llm_name == "scripted-llm"
    assert prediction.run_key.startswith("llm|chest_ct|schema")
    assert prediction.prompt_version and prediction.prompt_version in prediction.run_key
    assert prediction.timings["steps"].keys() == {"chest_ct_relations"}


def test_llm_mode_stores_locations_normalised_by_the_site_tree(monkeypatch, report):
    answer = {"nodule": {"s": "present", "l": ["right lung", "right upper lobe"], "e": "8 mm nodule"}}
    install(monkeypatch, ScriptedLLM({"8 mm nodule": answer}))
    prediction = stage2_predict_report(report=report, mode="llm")
    assert prediction.parsed["lesions"]["nodule"]["locations"] == ["right upper lobe"]
    assert next(f for f in prediction.findings if f["key"] == "nodule")["locations"] == ["right upper lobe"]


def test_running_again_replaces_the_row_of_the_same_run_key(monkeypatch, report):
    llm = install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    first = stage2_predict_report(report=report, mode="llm")
    llm.answers["8 mm nodule"] = {"nodule": {"s": "present", "l": ["left upper lobe"], "e": "8 mm nodule"}}
    second = stage2_predict_report(report=report, mode="llm")
    assert first.pk == second.pk
    assert Stage2Prediction.objects.filter(report=report).count() == 1
    second.refresh_from_db()
    assert second.parsed["lesions"]["nodule"]["locations"] == ["left upper lobe"]


def test_llm_hint_uses_the_active_stage1_models_stored_keys(monkeypatch, report, chest_ct):
    llm = install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    version = ModelVersion.objects.create(
        modality=chest_ct, name="s1-test", preset="small", status="ready", is_active=True
    )
    Stage1Prediction.objects.create(
        report=report,
        model_version=version,
        probabilities={},
        predicted_keys=["pleural effusion", "nodule", "right upper lobe"],
    )
    prediction = stage2_predict_report(report=report, mode="llm_hint")
    # Finding keys only, in schema order; the location key is not a hint.
    assert prediction.hint == ["nodule", "pleural effusion"]
    last_user = llm.calls[-1][0][-1]["content"]
    assert last_user.endswith("### Target Lesions: nodule, pleural effusion")
    assert prediction.stage1_version == version
    assert prediction.run_key.endswith(f"|s1:{version.pk}")
    assert prediction.mode == "llm_hint"


def test_llm_hint_without_a_stored_stage1_prediction_runs_without_hint(monkeypatch, report, chest_ct):
    llm = install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}))
    prediction = stage2_predict_report(report=report, mode="llm_hint")
    assert prediction.status == "ok"
    assert prediction.hint is None
    assert "### Target" not in llm.calls[-1][0][-1]["content"]
    assert prediction.run_key.endswith("|s1:none")


def test_output_that_fails_validation_is_stored_failed_with_the_raw_output(monkeypatch, report):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": {"nodule": {"s": "maybe", "l": [], "e": "x"}}}))
    prediction = stage2_predict_report(report=report, mode="llm")
    assert prediction.status == Stage2Prediction.Status.FAILED
    assert "maybe" in prediction.error and "$.nodule.s" in prediction.error
    assert '"maybe"' in prediction.raw_output
    assert prediction.parsed is None and prediction.findings == []


def test_a_report_past_its_time_limit_is_stored_failed_as_timed_out(monkeypatch, report):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": CHEST_OUTPUT}, delay=0.3))
    prediction = stage2_predict_report(report=report, mode="llm", timeout=0.05)
    assert prediction.status == Stage2Prediction.Status.FAILED
    assert prediction.error.startswith("timed out")


def test_unreachable_server_is_retried_with_backoff_then_succeeds(monkeypatch, report):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": flaky(2, CHEST_OUTPUT)}))
    waits = []
    retry = RetryPolicy(retries=3, backoff=1.5, sleep=waits.append)
    prediction = stage2_predict_report(report=report, mode="llm", retry=retry)
    assert prediction.status == "ok"
    assert prediction.attempts == 3
    assert waits == [1.5, 3.0]


def test_server_that_stays_unreachable_gives_a_failed_prediction_not_an_exception(monkeypatch, report):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": flaky(10, CHEST_OUTPUT)}))
    retry = RetryPolicy(retries=2, backoff=0, sleep=lambda s: None)
    prediction = stage2_predict_report(report=report, mode="llm", retry=retry)
    assert prediction.status == "failed"
    assert prediction.error.startswith("LLM server unreachable")
    assert prediction.attempts == 3


def test_rules_mode_pairs_keys_of_the_same_sentence(report):
    prediction = stage2_predict_report(report=report, mode="rules")
    assert prediction.status == "ok"
    # The baseline has no negation handling: "No pleural effusion" is present.
    assert prediction.parsed == {
        "lesions": {
            "nodule": {"status": "present", "locations": ["right upper lobe"]},
            "pleural effusion": {"status": "present", "locations": ["pleura"]},
        }
    }
    nodule = next(f for f in prediction.findings if f["key"] == "nodule")
    assert CHEST_TEXT[slice(*nodule["evidence_span"])].lower() == "nodule"
    assert prediction.run_key.startswith("rules|chest_ct|")


def test_brain_mri_runs_step1_then_the_episode_step(monkeypatch, brain_mri):
    text = "Known metastasis in the left frontal lobe, increased in size since the last study."
    report = ReportFactory(modality=brain_mri, text=text)

    def answer(messages, schema):
        if '"ep"' in json.dumps(schema):  # the episode step's template
            return {"metastasis": {"ep": "progression", "e": "increased in size"}}
        return {"metastasis": {"s": "present", "e": "Known metastasis"}}

    install(monkeypatch, ScriptedLLM({"metastasis": answer}))
    prediction = stage2_predict_report(report=report, mode="llm")
    assert prediction.status == "ok", prediction.error
    assert [s["task"] for s in prediction.messages] == ["brain_mri_step1", "brain_mri_episode"]
    assert prediction.parsed["diagnoses"]["metastasis"] == {"status": "present", "episode": "progression"}


def test_missing_gguf_file_is_a_configuration_error_naming_the_fix(settings, report, tmp_path):
    stage2_backend.llm_backend_reset()
    settings.MODEL_STORAGE_DIR = tmp_path
    settings.RADREVIEW_LLM = {"BACKEND": "llama_cpp", "MODEL": "qwen2.5-coder-0.5b"}
    with pytest.raises(LLMConfigError, match=r"llm_install --preset qwen2\.5-coder-0\.5b"):
        stage2_predict_report(report=report, mode="llm")
    settings.RADREVIEW_LLM = {"BACKEND": "llama_cpp", "MODEL": str(tmp_path / "nope.gguf")}
    with pytest.raises(LLMConfigError, match="not found"):
        stage2_plan(modality=report.modality, mode="llm")
    settings.RADREVIEW_LLM = {"BACKEND": "openai", "MODEL": "m"}
    with pytest.raises(LLMConfigError, match="RADREVIEW_LLM_SERVER_URL"):
        stage2_plan(modality=report.modality, mode="llm")
    assert not Stage2Prediction.objects.exists()


def test_unknown_mode_is_refused(report):
    with pytest.raises(Stage2Error, match="unknown stage 2 mode"):
        stage2_predict_report(report=report, mode="magic")
