"""Every kind of batch job finishes while another connection keeps writing
annotations (an annotator saving mentions): a stage 2 batch, a weak-label job and an
import, on the configured database (SQLite by default, PostgreSQL in CI)."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from annotations.models import Mention
from annotations.services.importing import import_job_work
from annotations.services.weak_labels import weak_label_job_create, weak_label_job_work
from inference.services.stage2 import Cohort, stage2_job_create, stage2_job_work
from jobs.models import Job
from jobs.services import job_create, job_run
from tests.annotations.factories import AssignmentFactory, ReportFactory, entity_key, modality

pytestmark = pytest.mark.django_db(transaction=True)


class AnnotatorWrites(threading.Thread):
    """Saves and deletes mentions on its own connection, as fast as it can, until stopped."""

    def __init__(self, assignment_id: int, report_id: int, key_id: int) -> None:
        super().__init__(daemon=True)
        self.ids = (assignment_id, report_id, key_id)
        self.stopped = threading.Event()
        self.writes = 0
        self.errors: list[str] = []

    def run(self) -> None:
        assignment_id, report_id, key_id = self.ids
        try:
            while not self.stopped.is_set():
                mention = Mention.objects.create(
                    assignment_id=assignment_id, report_id=report_id, key_id=key_id, start=0, end=5
                )
                mention.delete()
                self.writes += 2
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()


@pytest.fixture
def annotator():
    chest = modality("chest_ct")
    ReportFactory.create_batch(450, modality=chest)  # more than one read batch
    assignment = AssignmentFactory(report=ReportFactory(modality=chest))
    writer = AnnotatorWrites(assignment.pk, assignment.report_id, entity_key("nodule").pk)
    writer.start()
    yield writer
    writer.stopped.set()
    writer.join(timeout=30)
    assert not writer.errors, writer.errors


def _finished(job: Job) -> Job:
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def test_a_stage2_batch_finishes_while_an_annotator_writes(annotator):
    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="rules")
    job_run(job_id=job.pk, work=stage2_job_work)
    assert _finished(job).result["ok"] == 451
    assert annotator.writes > 0


def test_a_weak_label_job_finishes_while_an_annotator_writes(annotator):
    job = weak_label_job_create(modalities=["chest_ct"], modes=["keyword"], prune_older=False, user=None)
    job_run(job_id=job.pk, work=weak_label_job_work)
    _finished(job)
    assert annotator.writes > 0


def test_an_import_finishes_while_an_annotator_writes(annotator, settings, tmp_path: Path):
    path = tmp_path / "reports.csv"
    rows = ["id,patient_id,study_datetime,modality,text"]
    rows += [f"c{i},p{i},2021-03-04,chest_ct,Small nodule in the RUL number {i}." for i in range(300)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    params: dict[str, object] = {"path": str(path), "filename": "reports.csv", "fmt": "csv"}
    params |= {"source": "conc", "on_duplicate": "skip", "default_modality": None}
    job = job_create(kind=Job.Kind.IMPORT, title="import", params=params)
    job_run(job_id=job.pk, work=import_job_work)
    assert _finished(job).result["created"] == 300
    assert annotator.writes > 0
