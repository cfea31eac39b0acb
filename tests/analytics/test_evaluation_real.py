"""An evaluation run end to end with the stage 2 registry's rule-based modes (no LLM):
gold documents from annotations, evaluate_modes, statistics, the stored run; and
once through a real Celery worker."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from analytics import selectors
from analytics.models import EvaluationRun
from analytics.services import evaluation as evaluation_service
from annotations.models import Assignment, Relation, Report
from jobs.models import Job
from jobs.services import job_run
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key, modality
from tests.radreview.factories import UserFactory
from tests.worker import wait_for

TEXTS = [
    (
        "Known glioblastoma. Interval increase of the enhancing mass, suggesting progression.",
        "glioma",
        "progression",
    ),
    ("Brain metastases, stable in size compared with the prior study.", "metastasis", "stable"),
    ("No evidence of metastasis. Old lacunar infarct in the left basal ganglia.", None, None),
]


def _gold_reports():
    brain = modality("brain_mri")
    author = UserFactory(username="gold-loader")
    reports = []
    for text, diagnosis, episode in TEXTS:
        report = ReportFactory(modality=brain, text=text)
        assignment = AssignmentFactory(
            report=report, annotator=author, kind=Assignment.Kind.IMPORTED, status=Assignment.Status.SUBMITTED
        )
        if diagnosis:
            source = MentionFactory(
                assignment=assignment, key=entity_key(diagnosis, "brain_mri"), start=0, end=5
            )
            target = MentionFactory(
                assignment=assignment, key=entity_key(episode, "brain_mri"), start=6, end=9
            )
            Relation.objects.create(
                report=report,
                assignment=assignment,
                source_key=source.key,
                target_key=target.key,
                source_mention=source,
                target_mention=target,
            )
        else:
            MentionFactory(assignment=assignment, key=entity_key("metastasis", "brain_mri"), negated=True)
            MentionFactory(assignment=assignment, key=entity_key("stroke/infarction", "brain_mri"))
        reports.append(report)
    return reports


def test_gold_documents_follow_the_gold_file_shape(db):
    reports = _gold_reports()
    docs = selectors.gold_documents(report_ids=[r.pk for r in reports])
    assert docs[reports[0].pk] == {
        "diagnoses": {"glioma": {"status": "present", "episode": "progression"}},
        "non_tumor": [],
    }
    assert docs[reports[2].pk] == {
        "diagnoses": {
            "metastasis": {"status": "negated", "episode": None},
            "other non-tumor": {"status": "present"},
        },
        "non_tumor": ["stroke/infarction"],
    }
    assert [selectors.has_negated_finding(docs[r.pk]) for r in reports] == [False, False, True]


def test_rule_based_evaluation_end_to_end(db, admin_user, monkeypatch):
    reports = _gold_reports()
    monkeypatch.setattr(evaluation_service, "gold_report_ids", lambda **_: [r.pk for r in reports])
    run = evaluation_service.evaluation_start(
        user=admin_user, modality=modality("brain_mri"), gold_set="all_gold", modes=["rules", "keyword"]
    )
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED, run.job.error
    assert run.report_count == 3
    assert set(run.results["modes"]) == {"rules", "keyword"}
    assert len(run.results["modes"]["rules"]["correct"]) == 3
    assert run.results["negated"] == [False, False, True]
    assert run.comparisons["pairs"][0]["bootstrap"]["resamples"] == 1000
    assert (run.job.progress_done, run.job.progress_total) == (6, 6)


def test_all_gold_set_is_every_report_with_gold(db):
    reports = _gold_reports()
    ReportFactory(modality=modality("brain_mri"))  # no gold
    ids = evaluation_service.gold_report_ids(
        modality=modality("brain_mri"), gold_set=EvaluationRun.GoldSet.ALL_GOLD
    )
    assert ids == sorted(r.pk for r in reports)


def _gold_line(i: int, text: str, gold: dict, modality_code: str = "brain_mri") -> str:
    return json.dumps(
        {
            "id": f"f{i}",
            "modality": modality_code,
            "text": text,
            "patient_id": "p1",
            "study_datetime": f"2021-01-0{i}",
            "gold": gold,
        }
    )


def test_evaluation_on_an_uploaded_gold_file(client, admin_user, settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    modality("brain_mri")
    lines = [
        _gold_line(
            1, TEXTS[0][0], {"diagnoses": {"glioma": {"status": "present", "episode": "progression"}}}
        ),
        _gold_line(2, TEXTS[1][0], {"diagnoses": {"metastasis": {"status": "present", "episode": "stable"}}}),
        _gold_line(3, TEXTS[2][0], {"diagnoses": {"metastasis": {"status": "negated"}}, "non_tumor": []}),
        _gold_line(4, "Small nodule in the RUL.", {"lesions": {"nodule": {"status": "present"}}}, "chest_ct"),
    ]
    upload = SimpleUploadedFile(
        "site-gold.jsonl", "\n".join(lines).encode(), content_type="application/jsonl"
    )
    client.force_login(admin_user)
    response = client.post(
        reverse("analytics:evaluation_create"),
        {"modality": "brain_mri", "gold_set": "file", "modes": ["rules"], "gold_file": upload},
    )
    assert response.status_code == 302
    run = EvaluationRun.objects.get()
    assert run.params["gold_file"]["name"] == "site-gold.jsonl"
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.refresh_from_db()
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED, run.job.error
    assert run.report_count == 3  # the chest CT line is not this run's
    assert run.results["negated"] == [False, False, True]
    assert Report.objects.filter(source="gold:site-gold.jsonl").count() == 4  # imported once, all lines


def test_a_bad_gold_file_fails_the_job_naming_the_line(admin_user, settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    content = _gold_line(1, "MRI brain.", {"diagnoses": {}}) + "\n{not json\n"
    run = evaluation_service.evaluation_start(
        user=admin_user,
        modality=modality("brain_mri"),
        gold_set="file",
        modes=["rules"],
        gold_file=SimpleUploadedFile("bad.jsonl", content.encode()),
    )
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.FAILED
    assert "gold file line 2: malformed JSON" in run.job.error


def test_gold_file_import_problems_are_named(admin_user, settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    line = json.dumps({"id": "x1", "modality": "brain_mri", "text": "MRI brain.", "gold": {"diagnoses": {}}})
    run = evaluation_service.evaluation_start(
        user=admin_user,
        modality=modality("brain_mri"),
        gold_set="file",
        modes=["rules"],
        gold_file=SimpleUploadedFile("nodate.jsonl", line.encode()),
    )
    job_run(job_id=run.job.pk, work=evaluation_service.evaluation_execute)
    run.job.refresh_from_db()
    assert run.job.status == Job.Status.FAILED
    assert "line 1: " in run.job.error and "missing date" in run.job.error


def test_the_file_gold_set_needs_a_file(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("analytics:evaluation_create"),
        {"modality": "brain_mri", "gold_set": "file", "modes": ["rules"]},
        follow=True,
    )
    assert "Choose the gold file to evaluate on." in response.content.decode()
    assert not EvaluationRun.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_starts_an_evaluation_that_a_real_worker_runs(worker, client):
    reports = _gold_reports()
    admin = UserFactory(username="eval-admin", role="admin")
    client.force_login(admin)
    with worker.log_on_failure():
        response = client.post(
            reverse("analytics:evaluation_create"),
            {"modality": "brain_mri", "gold_set": "all_gold", "modes": ["rules", "keyword"]},
        )
        assert response.status_code == 302
        run = EvaluationRun.objects.get()

        def finished() -> bool:
            run.job.refresh_from_db()
            return run.job.is_finished

        wait_for(finished, timeout=120, what=f"evaluation job {run.job.pk}")
        assert run.job.status == Job.Status.SUCCEEDED, run.job.error
        run.refresh_from_db()
        assert run.report_count == len(reports)
        page = client.get(reverse("analytics:evaluation_detail", args=[run.pk])).content.decode()
        assert 'data-chart="chart-key-bars"' in page
