"""Combined predictions in the review queue: each finding keeps the source that
decided it, every source's verdict and the disagreement flags, and the review
page shows them in words (escaped); llm_hint findings render as before."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inference.models import Stage2Prediction
from review.page import FLAG_LABELS, verdict_text
from review.services import sync_report_findings
from tests.annotations.factories import ReportFactory
from tests.inference.factories import Stage2PredictionFactory
from tests.review.factories import chest_report_with_predictions, combined, combined_report_with_sources

pytestmark = pytest.mark.django_db


def test_sync_keeps_the_deciding_source_every_verdict_and_the_flags():
    report = combined_report_with_sources()
    review = sync_report_findings(report)
    live = {f.key: f for f in review.findings.filter(superseded=False)}
    assert set(live) == {"nodule", "consolidation", "ground-glass opacity"}
    prediction = report.stage2_predictions.get()
    nodule = live["nodule"]
    assert nodule.ai["source"] == "llm"
    assert nodule.ai["sources"]["rules"] == {"status": "negated", "assertion": "historical", "locations": []}
    assert nodule.ai["sources"]["stage1"] == {"prob": 0.88, "present": True}
    assert nodule.flags == ["historical", "rules_stage1_disagree", "llm_disagrees"]
    assert nodule.stage2_prediction_id == prediction.pk and nodule.prompt_version == "combined-chest-v1"
    # Decided by stage 1 (source "stage1") is still a stage 2 finding, not a stage-1-only claim,
    # and it has no quote to call a hallucination.
    ggo = live["ground-glass opacity"]
    assert ggo.ai["source"] == "stage1" and ggo.stage2_prediction_id == prediction.pk
    assert ggo.flags == ["lexicon_silent"]
    assert review.signals["disagreement"] is True and review.priority >= 3.0
    assert sync_report_findings(report).findings.count() == 3  # idempotent


def test_review_page_shows_decided_by_other_verdicts_and_flag_labels_escaped(client, clinician):
    report = combined_report_with_sources()
    review = sync_report_findings(report)
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[report.pk])).content.decode()
    nodule = review.findings.get(key="nodule")
    card = html[html.index(f'id="finding-{nodule.pk}"') :]
    card = card[: card.index("</article>")]
    assert (
        '<dt>Decided by</dt><dd class="f-source"><span class="chip source" data-source="llm">LLM</span>'
        in card
    )
    assert 'Rules: negated (historical)</span>; <span class="f-verdict">Stage 1: 0.88 present' in card
    for code in ("historical", "rules_stage1_disagree", "llm_disagrees"):
        assert f'data-flag="{code}">{FLAG_LABELS[code]}</span>' in card
    assert "Rules and stage 1 disagree" in card
    assert ">Rules + LLM</span>" in html and "Stage 1: 0.91 present" in html
    assert ">Stage 1</span>" in html and "LLM: not mentioned" in html  # ggo
    assert "No keyword matched (stage 1 found it)" in html
    assert "<script>x</script>" not in html  # consolidation's LLM verdict is the deciding one
    assert "&lt;b&gt;Hazy&lt;/b&gt;" in html and "<b>Hazy</b>" not in html


def test_other_sources_escape_what_they_show(client, clinician):
    report = ReportFactory(text="Nodule here.", external_id="combined-evil")
    Stage2PredictionFactory(
        report=report,
        mode=Stage2Prediction.Mode.COMBINED,
        findings=[
            combined(
                "Nodule here.",
                "nodule",
                "Nodule here",
                "rules",
                {"llm": {"status": "present", "locations": ["<img src=x onerror=alert(1)>"]}},
                flags=["<i>odd</i>"],
            )
        ],
    )
    sync_report_findings(report)
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[report.pk])).content.decode()
    assert "LLM: present in &lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html and "<i>odd</i>" not in html and "&lt;i&gt;odd&lt;/i&gt;" in html


def test_llm_hint_findings_render_as_before_without_a_deciding_source(client, clinician):
    report = chest_report_with_predictions(external_id="hint-1")
    sync_report_findings(report)
    client.force_login(clinician)
    html = client.get(reverse("review:review", args=[report.pk])).content.decode()
    assert "Decided by" not in html and "Other sources" not in html
    assert 'data-flag="stage1_only">stage 1 only (stage 2 did not confirm)</span>' in html


def test_provenance_of_a_combined_finding_without_an_llm_call_says_so(client, clinician):
    report = combined_report_with_sources()
    f = sync_report_findings(report).findings.get(key="consolidation")
    client.force_login(clinician)
    html = client.get(reverse("review:provenance", args=[report.pk, f.pk])).content.decode()
    assert "No LLM call: the rule engine and stage 1 settled this report." in html
    # With an LLM call: the exact prompt of each step (stored as StepCall dicts).
    step = {"task": "chest_ct_combined", "messages": [{"role": "user", "content": "- nodule: <rules say>"}]}
    report.stage2_predictions.update(messages=[step])
    html = client.get(reverse("review:provenance", args=[report.pk, f.pk])).content.decode()
    assert "- nodule: &lt;rules say&gt;" in html and "No LLM call" not in html


@pytest.mark.parametrize(
    ("source", "verdict", "text"),
    [
        ("stage1", {"prob": 0.912, "present": True}, "0.91 present"),
        ("stage1", {"prob": 0.1, "present": False}, "0.10 absent"),
        ("rules", {"status": "negated", "assertion": "negated", "locations": []}, "negated"),
        (
            "rules",
            {"status": "uncertain", "assertion": "uncertain", "locations": ["pleura"]},
            "uncertain in pleura",
        ),
        ("llm", {"status": None}, "not mentioned"),
        ("llm", {"status": "negated", "locations": ["right upper lobe"]}, "negated"),
    ],
)
def test_verdict_text(source, verdict, text):
    assert verdict_text(source, verdict) == text
