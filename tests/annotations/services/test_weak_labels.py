"""The weak-labelling job: which reports it labels, both modes, idempotent re-runs,
evaluation against gold, cancellation, the page and the API."""

import pytest
from django.urls import reverse

from annotations.models import EntityValue, WeakLabel, WeakLabelSet
from annotations.services import values as value_services
from annotations.services import weak_labels
from annotations.services.values import schema_version_bump
from annotations.tasks import weak_label_task
from jobs.models import Job
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory


@pytest.fixture
def corpus(chest_ct):
    gold_text = "No pleural effusion. Small nodule in the RUL."
    gold = ReportFactory(text=gold_text, external_id="gold")
    version = AssignmentFactory(report=gold, kind="imported", status="submitted")
    MentionFactory(assignment=version, key=entity_key("pleural effusion"), start=3, end=19, negated=True)
    MentionFactory(assignment=version, key=entity_key("nodule"), start=27, end=33)
    plain = ReportFactory(
        text="No pleural effusion. Consolidation in the RLL. 결절 의심.", external_id="plain"
    )
    in_work = ReportFactory(text="Mass in LUL.", external_id="in-work")
    AssignmentFactory(report=in_work)  # assigned, not submitted: still weak-labelled
    double = ReportFactory(text="Atelectasis.", external_id="double")
    AssignmentFactory(report=double, status="submitted")
    AssignmentFactory(report=double, status="submitted", annotator=UserFactory())  # annotated, no gold yet
    return {"gold": gold, "plain": plain, "in_work": in_work, "double": double}


def labels(report, mode):
    rows = WeakLabel.objects.filter(label_set__report=report, label_set__mode=mode).select_related("key")
    return {lab.key.name: (lab.status, lab.values) for lab in rows}


def test_labels_only_reports_nobody_submitted_in_both_modes(corpus, chest_ct):
    run = weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword", "keyword_negation"])
    assert (run["reports"], run["labelled"], run["skipped_annotated"], run["gold_reports"]) == (4, 2, 2, 1)
    labelled = set(WeakLabelSet.objects.values_list("report__external_id", flat=True))
    assert labelled == {"plain", "in-work"}
    assert labels(corpus["plain"], "keyword") == {
        "pleural effusion": ("positive", ["pleural effusion"]),
        "consolidation": ("positive", ["consolidation"]),
        "right lower lobe": ("positive", ["RLL"]),
        "nodule": ("positive", ["결절"]),
    }
    negation = labels(corpus["plain"], "keyword_negation")
    assert negation["pleural effusion"][0] == "negated"
    assert negation["consolidation"][0] == "positive"
    assert negation["nodule"][0] == "uncertain"
    assert {s.schema_version for s in WeakLabelSet.objects.all()} == {chest_ct.schema_version}


def test_rerun_replaces_labels_of_the_same_schema_version_and_never_duplicates(corpus, chest_ct):
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword", "keyword_negation"])
    first = (WeakLabelSet.objects.count(), WeakLabel.objects.count())
    first_ids = set(WeakLabelSet.objects.values_list("id", flat=True))
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword", "keyword_negation"])
    assert (WeakLabelSet.objects.count(), WeakLabel.objects.count()) == first
    assert not first_ids & set(WeakLabelSet.objects.values_list("id", flat=True))


def test_a_report_annotated_since_the_last_run_loses_its_weak_labels(corpus, chest_ct):
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword"])
    AssignmentFactory(report=corpus["in_work"], status="submitted", annotator=UserFactory())
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword"])
    assert not WeakLabelSet.objects.filter(report=corpus["in_work"]).exists()


def test_new_schema_version_keeps_old_labels_unless_pruned(corpus, chest_ct):
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword"])
    schema_version_bump(modality_id=chest_ct.pk)
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword"])
    assert WeakLabelSet.objects.values("schema_version").distinct().count() == 2
    schema_version_bump(modality_id=chest_ct.pk)
    weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword"], prune_older=True)
    chest_ct.refresh_from_db()
    assert set(WeakLabelSet.objects.values_list("schema_version", flat=True)) == {chest_ct.schema_version}


def test_evaluation_against_gold_shows_what_negation_fixes(corpus, chest_ct):
    run = weak_labels.weak_labels_run(modality=chest_ct, modes=["keyword", "keyword_negation"])
    keyword = run["evaluation"]["keyword"]["keys"]
    negation = run["evaluation"]["keyword_negation"]["keys"]
    # Gold: nodule present, pleural effusion negated ("No pleural effusion.").
    assert (keyword["nodule"]["tp"], negation["nodule"]["tp"]) == (1, 1)
    assert (keyword["pleural effusion"]["fp"], keyword["pleural effusion"]["negated_called_present"]) == (
        1,
        1,
    )
    assert (negation["pleural effusion"]["fp"], negation["pleural effusion"]["negated_called_present"]) == (
        0,
        0,
    )
    assert run["evaluation"]["keyword"]["micro"]["precision"] == pytest.approx(0.5)  # nodule tp, effusion fp
    assert run["evaluation"]["keyword_negation"]["micro"]["precision"] == pytest.approx(1.0)
    assert "right upper lobe" not in keyword  # only what stage 1 classifies (findings, details)


def test_detail_key_makes_its_parent_present(brain_mri):
    report = ReportFactory(text="Old lacunar infarct in the left basal ganglia.", modality=brain_mri)
    weak_labels.weak_labels_run(modality=brain_mri, modes=["keyword"])
    got = labels(report, "keyword")
    assert got["stroke/infarction"][0] == "positive"
    assert got["other non-tumor"] == ("positive", ["lacunar infarct"])


def test_job_runs_through_the_task_with_progress_and_counts_values(corpus, admin_user):
    job = weak_labels.weak_label_job_create(
        modalities=["chest_ct"], modes=["keyword"], prune_older=False, user=admin_user
    )
    weak_label_task(job.pk)  # the task body, in process
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (job.progress_done, job.progress_total) == (4, 4)
    assert job.result["chest_ct"]["labelled"] == 2
    assert WeakLabelSet.objects.filter(job=job).count() == 2
    assert EntityValue.objects.get(key=entity_key("nodule"), text="nodule").report_count == 1


def _value_counts_by_scan(modality):
    """report_count of every value of the modality as entity_value_count's own scan gives it."""
    values = EntityValue.objects.filter(key__entity_type__modality=modality)
    return {v.pk: value_services.entity_value_count(value=v) for v in values}


def test_job_counts_values_from_its_chunks_as_the_per_value_scan_does(
    corpus, chest_ct, admin_user, monkeypatch, settings
):
    settings.JOBS_CHUNK_SIZE = 3  # two chunks, one of them partial
    ReportFactory(text="Nodules and a ground-glass opacity; micronodular pattern.")
    expected = _value_counts_by_scan(chest_ct)
    EntityValue.objects.update(report_count=None, counted_at=None)

    def no_scan(**kwargs):
        raise AssertionError("the chunks' counts were not used")

    monkeypatch.setattr(weak_labels, "entity_values_count", no_scan)
    job = weak_labels.weak_label_job_create(
        modalities=["chest_ct"], modes=["rule_engine"], prune_older=False, user=admin_user
    )
    weak_label_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["chest_ct"]["values_counted"] == len(expected)
    got = dict(EntityValue.objects.filter(pk__in=expected).values_list("pk", "report_count"))
    assert got == expected
    assert any(n > 0 for n in got.values())
    assert not EntityValue.objects.filter(pk__in=expected, counted_at=None).exists()


@pytest.mark.parametrize("change", ["value_edited", "report_added"])
def test_job_counts_values_by_scan_when_the_lexicon_or_corpus_changed_since_its_chunks(
    corpus, chest_ct, admin_user, monkeypatch, change
):
    original = weak_labels._Labeller.write

    def write_then_change(self, ids, sets):
        original(self, ids, sets)
        if change == "value_edited":
            schema_version_bump(modality_id=chest_ct.pk)
        else:
            ReportFactory(text="Small nodule.")

    scans = []
    monkeypatch.setattr(weak_labels._Labeller, "write", write_then_change)
    monkeypatch.setattr(weak_labels, "entity_values_count", lambda **kw: scans.append(kw) or 0)
    job = weak_labels.weak_label_job_create(
        modalities=["chest_ct"], modes=["keyword"], prune_older=False, user=admin_user
    )
    weak_label_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert scans == [{"modality": chest_ct}]


def test_job_can_be_cancelled_between_chunks(corpus, admin_user, monkeypatch, settings):
    settings.JOBS_CHUNK_SIZE = 1
    job = weak_labels.weak_label_job_create(
        modalities=["chest_ct"], modes=["keyword"], prune_older=False, user=admin_user
    )
    original = weak_labels._Labeller.write

    def write_then_cancel(self, ids, sets):
        original(self, ids, sets)
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    monkeypatch.setattr(weak_labels._Labeller, "write", write_then_cancel)
    weak_label_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert job.progress_done == 1


def test_page_starts_a_run_and_shows_the_comparison(
    client, corpus, admin_user, annotator, django_capture_on_commit_callbacks
):
    client.force_login(annotator)
    assert client.get(reverse("annotations:weak_labels")).status_code == 403
    client.force_login(admin_user)
    data = {"modalities": ["chest_ct"], "modes": ["keyword", "keyword_negation"], "prune_older": "on"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("annotations:weak_labels"), data)
    assert response.status_code == 302 and len(callbacks) == 1
    job = Job.objects.get(kind=Job.Kind.WEAK_LABEL)
    assert job.params == {
        "modalities": ["chest_ct"],
        "modes": ["keyword", "keyword_negation"],
        "prune_older": True,
    }
    weak_label_task(job.pk)
    page = client.get(reverse("annotations:weak_labels")).content.decode()
    assert 'id="comparison-chest_ct"' in page and "Keyword + negation" in page
    api = client.get("/api/weak-labels/evaluation/").json()
    assert api["chest_ct"]["evaluation"]["keyword"]["keys"]["pleural effusion"]["fp"] == 1


def test_page_renders_before_any_run(client, admin_user):
    client.force_login(admin_user)
    assert "No finished run yet" in client.get(reverse("annotations:weak_labels")).content.decode()


def test_job_create_refuses_unknown_modes(admin_user):
    with pytest.raises(ValueError, match="modes"):
        weak_labels.weak_label_job_create(
            modalities=["chest_ct"], modes=["magic"], prune_older=False, user=admin_user
        )
    assert not Job.objects.exists()


# -- the rule_engine mode -------------------------------------------------------------------------

ENGINE_TEXTS = {
    "negated": "No pleural effusion. Small nodule in the RUL.",
    "hedged": "Possible consolidation in the left lower lobe.",
    "historical": "The previously seen atelectasis has resolved. Mild bronchiectasis in the RML.",
}


@pytest.fixture
def engine_corpus(chest_ct):
    return {
        name: ReportFactory(text=text, external_id=f"engine-{name}") for name, text in ENGINE_TEXTS.items()
    }


def test_rule_engine_mode_stores_the_engines_verdict_per_key(engine_corpus, chest_ct):
    run = weak_labels.weak_labels_run(modality=chest_ct, modes=["rule_engine"])

    assert labels(engine_corpus["negated"], "rule_engine") == {
        "pleural effusion": ("negated", ["pleural effusion"]),
        "nodule": ("positive", ["nodule"]),
    }
    assert labels(engine_corpus["hedged"], "rule_engine") == {
        "consolidation": ("uncertain", ["consolidation"])
    }
    historical = labels(engine_corpus["historical"], "rule_engine")
    assert historical["atelectasis"][0] == "negated"  # historical counts as negated
    assert historical["bronchiectasis"][0] == "positive"
    assert "right middle lobe" not in historical  # report-level finding keys only, no locations
    assert run["rules_version"] == weak_labels.weak_label_engine(modality=chest_ct).rules.version
    assert set(WeakLabelSet.objects.values_list("rules_version", flat=True)) == {run["rules_version"]}


def test_rule_engine_rerun_replaces_its_labels_without_duplicates(engine_corpus, chest_ct):
    weak_labels.weak_labels_run(modality=chest_ct, modes=["rule_engine", "keyword"])
    first = (WeakLabelSet.objects.count(), WeakLabel.objects.count())
    weak_labels.weak_labels_run(modality=chest_ct, modes=["rule_engine"])
    assert (WeakLabelSet.objects.count(), WeakLabel.objects.count()) == first
    assert WeakLabelSet.objects.filter(mode="rule_engine").count() == 3
    assert not WeakLabelSet.objects.filter(mode="keyword").exclude(rules_version="").exists()


def test_rule_engine_mode_leaves_annotated_reports_out_and_scores_them_against_gold(engine_corpus, chest_ct):
    gold_report = engine_corpus["negated"]
    version = AssignmentFactory(report=gold_report, kind="imported", status="submitted")
    MentionFactory(assignment=version, key=entity_key("pleural effusion"), start=3, end=19, negated=True)
    MentionFactory(assignment=version, key=entity_key("nodule"), start=27, end=33)

    run = weak_labels.weak_labels_run(modality=chest_ct, modes=["rule_engine", "keyword"])

    assert not WeakLabelSet.objects.filter(report=gold_report).exists()
    assert (run["labelled"], run["gold_reports"]) == (2, 1)
    engine = run["evaluation"]["rule_engine"]["keys"]
    keyword = run["evaluation"]["keyword"]["keys"]
    assert (engine["nodule"]["tp"], engine["pleural effusion"]["fp"]) == (1, 0)
    assert (keyword["pleural effusion"]["fp"], keyword["pleural effusion"]["negated_called_present"]) == (
        1,
        1,
    )


def test_rule_engine_details_make_their_parent_present(brain_mri):
    report = ReportFactory(text="Acute lacunar infarct in the left basal ganglia.", modality=brain_mri)
    denied = ReportFactory(text="No evidence of metastasis.", modality=brain_mri)
    weak_labels.weak_labels_run(modality=brain_mri, modes=["rule_engine"])
    got = labels(report, "rule_engine")
    assert (got["stroke/infarction"][0], got["other non-tumor"][0]) == ("positive", "positive")
    assert labels(denied, "rule_engine") == {"metastasis": ("negated", ["metastasis"])}


def test_rule_engine_mode_is_refused_without_an_engine(admin_user, monkeypatch):
    monkeypatch.setattr(weak_labels, "_engine_provider", [])
    with pytest.raises(weak_labels.WeakLabelError, match="rule engine is not available"):
        weak_labels.weak_label_job_create(
            modalities=["chest_ct"], modes=["rule_engine"], prune_older=False, user=admin_user
        )
    assert not Job.objects.exists()


def test_api_starts_a_rule_engine_run_and_shows_its_rules_version(
    client, engine_corpus, admin_user, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/api/weak-labels/runs/",
            {"modalities": ["chest_ct"], "modes": ["rule_engine"]},
            "application/json",
        )
    assert response.status_code == 202
    weak_label_task(response.json()["job"])
    body = client.get(f"/api/reports/{engine_corpus['hedged'].pk}/weak-labels/").json()
    (label_set,) = body["label_sets"]
    assert label_set["mode"] == "rule_engine" and label_set["rules_version"]
    assert label_set["labels"] == [
        {"key": "consolidation", "status": "uncertain", "values": ["consolidation"]}
    ]
