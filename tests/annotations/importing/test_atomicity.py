"""All or nothing: a bad row, an error or a cancel request anywhere leaves the
database as it was. The file is streamed, and the database is queried per
batch, not per row."""

import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from annotations.models import Modality, Report
from annotations.services import importing
from annotations.services.importing import reports_import
from jobs.models import Job
from jobs.services import JobCancelled, job_cancel
from tests.annotations.importing.files import row, write_csv
from tests.jobs.factories import JobFactory


@pytest.fixture
def import_job(db):
    return JobFactory(kind=Job.Kind.IMPORT, status=Job.Status.RUNNING)


def _after_batch(monkeypatch, action):
    """Run action(n) after the n-th batch is written (n from 1)."""
    original = importing._write_batch
    calls = []

    def wrapped(plan, batch, result):
        original(plan, batch, result)
        calls.append(1)
        action(len(calls))

    monkeypatch.setattr(importing, "_write_batch", wrapped)
    return calls


def test_import_with_one_bad_row_after_several_batches_keeps_nothing(tmp_path, settings, db):
    settings.IMPORT_BATCH_SIZE = 10
    path = write_csv(
        tmp_path / "r.csv", [*(row(n) for n in range(55)), ("r99", "p", "2021-03-04", "chest_ct", " ")]
    )

    result = reports_import(path=path, source="s")

    assert not result.ok
    assert [(p.line, p.field) for p in result.problems] == [(57, "text")]
    assert result.rows == 56
    assert Report.objects.count() == 0


def test_import_cancelled_mid_insert_rolls_back_everything(tmp_path, settings, import_job, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 2
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(7)])
    calls = _after_batch(
        monkeypatch, lambda n: Job.objects.filter(pk=import_job.pk).update(cancel_requested=True)
    )

    with pytest.raises(JobCancelled):
        reports_import(path=path, source="s", job_id=import_job.pk)

    assert len(calls) == 1  # one batch was written, then rolled back
    assert Report.objects.count() == 0


def test_import_cancelled_while_checking_writes_nothing(tmp_path, import_job):
    Job.objects.filter(pk=import_job.pk).update(cancel_requested=True)
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(3)])

    with pytest.raises(JobCancelled):
        reports_import(path=path, source="s", job_id=import_job.pk)

    assert Report.objects.count() == 0


def test_import_error_in_a_later_batch_rolls_back_the_earlier_ones(tmp_path, settings, db, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 2

    def fail_on_second(n):
        if n == 2:
            raise RuntimeError("database went away")

    _after_batch(monkeypatch, fail_on_second)
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(5)])

    with pytest.raises(RuntimeError):
        reports_import(path=path, source="s")

    assert Report.objects.count() == 0


def test_import_queries_the_database_per_batch_not_per_row(tmp_path, settings, db):
    settings.IMPORT_BATCH_SIZE = 50
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(200)])

    with CaptureQueriesContext(connection) as queries:
        result = reports_import(path=path, source="s")

    assert result.created == 200
    # modalities once; per batch: existing ids, content hashes, one INSERT; a savepoint around it all
    assert len(queries) <= 1 + 3 * 4 + 2, [q["sql"][:80] for q in queries]


def test_import_reports_progress_to_its_job(tmp_path, import_job):
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(3)])

    result = reports_import(path=path, source="s", job_id=import_job.pk)

    import_job.refresh_from_db()
    assert result.created == 3
    # Counted in reports (each checked, then written), not bytes.
    assert (import_job.progress_done, import_job.progress_total) == (3, 6)
    assert import_job.progress_message == "Writing 3 reports"
    assert set(Report.objects.values_list("import_job", flat=True)) == {import_job.pk}


def test_import_progress_counts_reports_while_checking(tmp_path, import_job, settings, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 10
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(40)])
    seen: list[tuple[int, int | None, str]] = []
    real = importing.job_progress

    def spy(*, job_id: int, done: int, total: int | None = None, message: str = "") -> None:
        seen.append((done, total, message))
        real(job_id=job_id, done=done, total=total, message=message)

    monkeypatch.setattr(importing, "job_progress", spy)

    reports_import(path=path, source="s", job_id=import_job.pk)

    checking = [(d, t) for d, t, m in seen if m.startswith("Checking:")]
    assert [d for d, _ in checking] == [10, 20, 30, 40]
    assert all(t is not None and d <= t <= 2 * 60 for d, t in checking)  # about 40 reports, x2 passes
    assert seen[-1][:2] == (40, 80)


def test_estimated_reports_extrapolates_from_the_bytes_read():
    assert importing.estimated_reports(rows=10, bytes_read=1_000, size=4_000) == 40
    assert importing.estimated_reports(rows=10, bytes_read=4_000, size=4_000) == 10
    assert importing.estimated_reports(rows=0, bytes_read=0, size=4_000) == 0


@pytest.mark.slow
def test_import_streams_the_file_in_bounded_memory(tmp_path, settings, db):
    settings.IMPORT_BATCH_SIZE = 100
    text = "Small nodule in the right upper lobe, unchanged. 간유리음영 없음. " * 60  # ~4 kB
    path = write_csv(tmp_path / "big.csv", [row(n, text=f"{n} {text}") for n in range(6_000)])
    assert path.stat().st_size > 25_000_000

    tracemalloc.start()
    try:
        result = reports_import(path=path, source="s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.created == 6_000
    # A few batches' worth, not the file: a quarter of it leaves room for interpreter noise.
    assert peak < path.stat().st_size / 4, (
        f"peak {peak / 1e6:.1f} MB for a {path.stat().st_size / 1e6:.0f} MB file"
    )


def _in_another_connection(fn):
    """Run fn in a thread of its own, hence on a database connection of its own."""

    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=10)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has one writer: no cancelling a write pass")
@pytest.mark.django_db(transaction=True)  # other connections must see the job row
def test_import_on_postgresql_shows_progress_and_can_be_cancelled_while_it_writes(
    tmp_path, settings, monkeypatch
):
    # An earlier transactional test may have flushed the migrations' data.
    Modality.objects.get_or_create(code="chest_ct", defaults={"name": "Chest CT"})
    settings.IMPORT_BATCH_SIZE = 2
    job = JobFactory(kind=Job.Kind.IMPORT, status=Job.Status.RUNNING)
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(9)])
    seen: list[str] = []

    def watch_then_cancel(n):
        if n == 2:  # the step before batch 2 reported progress through its own connection
            deadline = time.monotonic() + 5
            while not seen or not seen[-1].startswith("Writing: "):
                seen.append(_in_another_connection(lambda: Job.objects.get(pk=job.pk).progress_message))
                assert time.monotonic() < deadline, seen
            # the import holds no lock on the job row, so the admin's cancel does not wait for it
            assert _in_another_connection(lambda: job_cancel(job=job)) is True

    _after_batch(monkeypatch, watch_then_cancel)

    with pytest.raises(JobCancelled):
        reports_import(path=path, source="s", job_id=job.pk)

    assert Report.objects.count() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("import-progress")]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite path: one writer at a time")
@pytest.mark.django_db(transaction=True)
def test_import_on_sqlite_can_be_cancelled_while_it_writes(tmp_path, settings, monkeypatch):
    """The import's write pass holds SQLite's only write lock: the cancel request's
    UPDATE waits for it, but its marker file is seen before the next batch, so the
    import rolls back at once and the cancel then goes through."""
    Modality.objects.get_or_create(code="chest_ct", defaults={"name": "Chest CT"})
    settings.IMPORT_BATCH_SIZE = 2
    job = JobFactory(kind=Job.Kind.IMPORT, status=Job.Status.RUNNING)
    path = write_csv(tmp_path / "r.csv", [row(n) for n in range(9)])
    cancel = threading.Thread(target=lambda: _in_another_connection(lambda: job_cancel(job=job)))

    def cancel_after_the_first_batch(n):
        if n == 1:
            cancel.start()  # the admin presses cancel; its UPDATE waits for the write lock
            deadline = time.monotonic() + 5
            while not (settings.DATA_DIR / "jobs" / f"cancel-{job.pk}").exists():
                assert time.monotonic() < deadline
                time.sleep(0.01)

    _after_batch(monkeypatch, cancel_after_the_first_batch)
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        reports_import(path=path, source="s", job_id=job.pk)
    cancel.join(timeout=10)
    assert Report.objects.count() == 0
    assert Job.objects.get(pk=job.pk).cancel_requested is True
    assert time.monotonic() - started < 5  # not the 30 s busy timeout
