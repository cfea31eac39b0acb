"""`manage.py evaluate` on a tiny gold file, and the mode registry behind it. The
expected figures are worked out by hand in the comments."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Report
from inference.models import ModelVersion, Stage1Prediction, Stage2Prediction
from inference.services import evaluation
from inference.services.evaluation import EvalItem, ModeOutput, evaluate_modes, register_mode
from tests.inference.factories import CHEST_OUTPUT, ScriptedLLM, install

pytestmark = pytest.mark.django_db

R1 = "8 mm nodule in the RUL. No pleural effusion."
R2 = "Consolidation in the RLL. Atelectasis in the LLL."
GOLD = [
    {
        "id": "g1",
        "modality": "chest_ct",
        "patient_id": "p1",
        "study_datetime": "2024-01-02",
        "text": R1,
        "gold": {
            "lesions": {
                "nodule": {"status": "present", "locations": ["right upper lobe"]},
                "pleural effusion": {"status": "negated", "locations": []},
            }
        },
    },
    {
        "id": "g2",
        "modality": "chest_ct",
        "patient_id": "p2",
        "study_datetime": "2024-01-03",
        "text": R2,
        "gold": {
            "lesions": {
                "consolidation": {"status": "present", "locations": ["right lower lobe"]},
                "atelectasis": {"status": "present", "locations": ["left lower lobe"]},
            }
        },
    },
]
# The LLM gets report 1 right and misses the atelectasis location of report 2.
LLM_ANSWERS = {
    "8 mm nodule": CHEST_OUTPUT,
    "Consolidation in the RLL": {
        "consolidation": {"s": "present", "l": ["right lower lobe"], "e": "Consolidation in the RLL"},
        "atelectasis": {"s": "present", "l": [], "e": "Atelectasis in the LLL"},
    },
}


@pytest.fixture
def gold_file(tmp_path, chest_ct):
    path = tmp_path / "tiny-gold.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in GOLD) + "\n", encoding="utf-8")
    return path


def test_evaluate_imports_runs_modes_prints_tables_and_writes_json(monkeypatch, gold_file, tmp_path):
    install(monkeypatch, ScriptedLLM(LLM_ANSWERS))
    out_json = tmp_path / "summary.json"
    stdout = StringIO()
    call_command(
        "evaluate", str(gold_file), modes="rules,llm", json=str(out_json), stdout=stdout, stderr=StringIO()
    )
    printed = stdout.getvalue()
    assert "--- chest_ct / rules" in printed and "--- chest_ct / llm" in printed
    assert "Entity keys (report level)" in printed and "Relations (per gold finding)" in printed
    assert Report.objects.filter(source="gold:tiny-gold.jsonl").count() == 2

    summary = json.loads(out_json.read_text())
    modes = summary["modalities"]["chest_ct"]["modes"]
    rules, llm = modes["rules"], modes["llm"]
    # rules: report 1 also calls the negated pleural effusion present -> 1 of 2 reports exact.
    assert rules["entity"]["report"]["accuracy"] == 0.5
    assert rules["entity"]["per_key"]["pleural effusion"]["fp"] == 1
    assert rules["per_report"]["correct"] == [False, True]
    # rules: every gold lesion gets exactly its location (same sentence) -> all relation figures 1.
    assert rules["relations"]["macro"]["f1"] == 1.0 and rules["relations"]["micro"]["n"] == 3
    # llm: keys all right; relations nodule 1, consolidation 1, atelectasis 0 (nothing predicted).
    assert llm["entity"]["report"]["accuracy"] == 1.0
    assert llm["relations"]["per_key"]["atelectasis"] == {
        "n": 1,
        "accuracy": 0.0,
        "precision": None,
        "recall": 0.0,
        "f1": 0.0,
    }
    assert llm["relations"]["macro"]["f1"] == pytest.approx(2 / 3)
    assert llm["relations"]["macro"]["accuracy"] == pytest.approx(2 / 3)
    assert llm["per_report"]["relation_exact"] == [True, False]
    assert llm["per_report"]["relation_f1"] == [1.0, 0.5]
    assert llm["failed"] == 0 and llm["seconds_per_report"] is not None
    # The LLM run is stored like any other, against the imported reports.
    assert Stage2Prediction.objects.filter(mode="llm", status="ok").count() == 2


def test_evaluating_twice_reuses_the_imported_reports(monkeypatch, gold_file, tmp_path):
    for _ in range(2):
        call_command(
            "evaluate",
            str(gold_file),
            modes="rules",
            json=str(tmp_path / "s.json"),
            stdout=StringIO(),
            stderr=StringIO(),
        )
    assert Report.objects.count() == 2
    assert Stage2Prediction.objects.count() == 2


def test_failed_llm_outputs_count_as_nothing_predicted(monkeypatch, gold_file, tmp_path):
    install(monkeypatch, ScriptedLLM({"8 mm nodule": "not json", "Consolidation": "{}"}))
    call_command(
        "evaluate",
        str(gold_file),
        modes="llm",
        json=str(tmp_path / "s.json"),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    llm = json.loads((tmp_path / "s.json").read_text())["modalities"]["chest_ct"]["modes"]["llm"]
    assert llm["failed"] == 1 and llm["per_report"]["failed"] == [True, False]
    assert llm["entity"]["report"]["recall"] == 0.0
    assert "not valid JSON" in llm["errors"][0]


def test_bad_input_is_a_command_error(gold_file, tmp_path):
    with pytest.raises(CommandError, match="unknown mode"):
        call_command("evaluate", str(gold_file), modes="magic", stdout=StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("evaluate", str(tmp_path / "missing.jsonl"), stdout=StringIO())
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "modality": "chest_ct", "text": "t"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match='"gold" must be an object'):
        call_command("evaluate", str(broken), stdout=StringIO())


def test_bert_mode_without_an_active_stage1_model_says_so(gold_file):
    with pytest.raises(CommandError, match="no active stage 1 model"):
        call_command("evaluate", str(gold_file), modes="bert", stdout=StringIO(), stderr=StringIO())


def test_registered_modes_are_evaluated_like_built_in_ones(gold_file, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "_REGISTRY", dict(evaluation._REGISTRY))

    def everything_present(items, ctx):
        keys = {"nodule", "consolidation", "atelectasis"}
        return [ModeOutput({"lesions": {k: {"status": "present"} for k in keys}}, 0.001) for _ in items]

    register_mode("everything", everything_present, relations=False, description="calls every key present")
    call_command(
        "evaluate",
        str(gold_file),
        modes="rules",
        json=str(tmp_path / "s.json"),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    items = [EvalItem(r, GOLD[i]["gold"]) for i, r in enumerate(Report.objects.order_by("external_id"))]
    result = evaluate_modes(items=items, modes=["everything"])
    mode = result["modes"]["everything"]
    assert mode["relations"] is None and mode["relations_scored"] is False
    # 3 of 3 predicted keys per report, gold has 1 and 2 of them: precision (1/3 + 2/3) / 2.
    assert mode["entity"]["report"]["precision"] == pytest.approx(0.5)
    assert mode["entity"]["report"]["recall"] == 1.0
    assert result["report_ids"] == [i.report.pk for i in items]
    json.dumps(result)


def test_bert_and_llm_hint_use_the_active_stage1_models_stored_predictions(
    monkeypatch, gold_file, tmp_path, chest_ct
):
    llm = install(monkeypatch, ScriptedLLM(LLM_ANSWERS))
    call_command(
        "evaluate",
        str(gold_file),
        modes="rules",
        json=str(tmp_path / "s.json"),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    version = ModelVersion.objects.create(
        modality=chest_ct, name="s1", preset="small", status="ready", is_active=True
    )
    reports = list(Report.objects.order_by("external_id"))
    stored = [["nodule", "pleural effusion"], ["consolidation"]]
    for report, keys in zip(reports, stored, strict=True):
        Stage1Prediction.objects.create(
            report=report, model_version=version, probabilities={}, predicted_keys=keys
        )
    items = [EvalItem(r, GOLD[i]["gold"]) for i, r in enumerate(reports)]
    result = evaluate_modes(items=items, modes=["bert", "llm_hint"])
    bert = result["modes"]["bert"]
    # bert: report 1 adds the negated effusion, report 2 misses atelectasis -> no report exact.
    assert bert["per_report"]["correct"] == [False, False]
    assert bert["relations"] is None
    assert bert["entity"]["per_key"]["atelectasis"]["fn"] == 1
    hints = [call[0][-1]["content"].rsplit("\n", 1)[-1] for call in llm.calls]
    assert hints == ["### Target Lesions: nodule, pleural effusion", "### Target Lesions: consolidation"]
    assert result["modes"]["llm_hint"]["entity"]["report"]["accuracy"] == 1.0
