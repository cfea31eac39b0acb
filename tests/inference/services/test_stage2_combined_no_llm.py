"""The combined mode on a site with no LLM installed: the shipped question policy asks
nothing, so the rule engine's answers are stored; a policy that asks questions still
stops with the configuration error."""

import pytest

from inference.ml.llm.backends import LLMConfigError
from inference.ml.questions import LOCATION
from inference.models import LLMQuestionType
from inference.services import stage2_backend
from inference.services.stage2 import stage2_plan
from inference.services.stage2_modes.combined import NO_LLM
from tests.annotations.factories import ReportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_llm_installed(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.MODEL_STORAGE_DIR = tmp_path / "models"  # no GGUF file under it
    stage2_backend.llm_backend_reset()
    with pytest.raises(LLMConfigError):
        stage2_backend.llm_backend("chest_ct_relations")
    yield
    stage2_backend.llm_backend_reset()


def test_the_shipped_policy_runs_without_an_llm(no_llm_installed, chest_ct):
    plan = stage2_plan(modality=chest_ct, mode="combined")
    report = ReportFactory(modality=chest_ct, text="Atelectasis in both lower lobes. No pleural effusion.")

    assert plan.llm_name == NO_LLM and NO_LLM in plan.run_key
    result = plan.extractor.extract(report.text, stage1=None)
    assert {f.key: f.status for f in result.findings} == {
        "atelectasis": "present",
        "pleural effusion": "negated",
    }


def test_a_policy_that_asks_questions_still_needs_the_llm(no_llm_installed, chest_ct):
    LLMQuestionType.objects.create(code=LOCATION, asked=True, set_by="admin")
    with pytest.raises(LLMConfigError, match="llm_install"):
        stage2_plan(modality=chest_ct, mode="combined")
