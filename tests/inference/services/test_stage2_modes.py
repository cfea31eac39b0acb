"""The stage 2 mode registry: what InferenceConfig.ready() registers, that it agrees
with the database's list of modes, that evaluation takes its stage 2 modes from it,
and that review hears of stored predictions through the hook it registers."""

import pytest

from inference import hooks
from inference.models import Stage2Prediction
from inference.services import evaluation
from inference.services.stage2 import Cohort, mode_choices, mode_refusal, stage2_job_create, stage2_job_work
from inference.services.stage2_modes.registry import (
    pipeline_mode_names,
    stage2_mode_get,
    stage2_modes,
    stage2_no_prompt_note,
)
from inference.services.stage2_modes.schema import Stage2Error
from review.services.sync import sync_report_findings
from tests.annotations.factories import ReportFactory


def test_the_registry_and_the_database_enum_agree_on_names_and_labels():
    assert {name: mode.label for name, mode in stage2_modes().items()} == dict(Stage2Prediction.Mode.choices)


def test_pipeline_modes_are_the_llm_modes_and_combined_not_the_baseline():
    assert set(pipeline_mode_names()) == {"llm", "llm_hint", "combined"}


def test_every_stage2_mode_is_an_evaluation_mode_with_its_label_and_description():
    specs = evaluation.registered_modes()
    for name, mode in stage2_modes().items():
        assert (specs[name].label, specs[name].description) == (mode.label, mode.description)
    assert list(evaluation.mode_labels()) == [
        "bert",
        "llm",
        "llm_hint",
        "rules",
        "combined",
        "keyword",
        "rules_engine",
    ]


def test_each_mode_says_why_a_stored_prediction_holds_no_prompt():
    assert stage2_no_prompt_note("rules") == "No prompt stored (rule-based mode)."
    assert stage2_no_prompt_note("combined").startswith("No LLM call")
    assert "failed before the LLM" in stage2_no_prompt_note("llm_hint")
    assert stage2_no_prompt_note("retired-mode") == "No prompt stored."


def test_forms_and_api_list_the_registry_with_descriptions():
    assert [name for name, _ in mode_choices()] == list(stage2_modes())
    assert dict(mode_choices())["combined"].endswith("LLM only where needed (chest CT)")


def test_an_unknown_mode_names_the_known_ones():
    with pytest.raises(Stage2Error, match="unknown stage 2 mode 'magic'; use one of llm, llm_hint"):
        stage2_mode_get("magic")


@pytest.mark.django_db
def test_a_mode_says_which_modalities_it_refuses(chest_ct, brain_mri):
    assert mode_refusal("combined", chest_ct) is None
    assert mode_refusal("combined", brain_mri) is None  # the rule backbone reads brain MRI too
    assert mode_refusal("rules", brain_mri) is None
    assert mode_refusal("magic", brain_mri) is None  # the choice field's error, not this one's


def test_review_registered_its_sync_and_its_approved_labels_with_inference():
    assert sync_report_findings in hooks._stage2_stored
    source = hooks.approved_labels_source()
    assert source is not None and source.key_labels.__module__ == "review.labels"


@pytest.mark.django_db
def test_a_batch_calls_every_registered_listener_with_each_stored_report(monkeypatch, chest_ct):
    heard = []
    monkeypatch.setattr(hooks, "_stage2_stored", [])
    hooks.on_stage2_stored(heard.append)
    hooks.on_stage2_stored(heard.append)  # registering twice keeps one
    reports = [ReportFactory(modality=chest_ct, text="8 mm nodule in the RUL.") for _ in range(2)]
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="rules")
    stage2_job_work(job)
    assert [r.pk for r in heard] == [r.pk for r in reports]
