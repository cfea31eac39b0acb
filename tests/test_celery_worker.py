"""A real `celery worker` process against the configured broker and the test database.

Eager mode would skip everything that breaks in production: serialization, the
broker, a second process seeing (or not seeing) committed rows. So this module
starts one worker (solo pool) for all its tests, on a queue of its own so that
messages left in a persistent broker (the embedded SQLite file) by an earlier,
interrupted run are never picked up, and stops it before the test database goes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from jobs.models import Job
from jobs.services import job_cancel, job_create, job_enqueue
from jobs.tasks import selftest_task
from radreview.celery import app, ping

# transaction=True: the worker is another process and sees only committed rows. On
# the ping test too, so that pytest-django's reordering (transactional tests after
# the others) keeps this module's tests together and one worker serves them all.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, queue: str) -> None:
        self.process = process
        self.log_path = log_path
        self.queue = queue

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @contextlib.contextmanager
    def log_on_failure(self) -> Iterator[None]:
        """Print the worker's log (shown by pytest under "Captured stdout") if the block fails."""
        try:
            yield
        except BaseException:
            print(f"----- celery worker log ({self.log_path}) -----\n{self.log()}")
            raise


def _database_url(settings_dict: dict) -> str:
    """DATABASE_URL for the database pytest-django created (its NAME is the test name by now)."""
    name = settings_dict["NAME"]
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(name).resolve()}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(name, safe='')}"


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    from django.db import connection

    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "radreview.settings.test",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "radreview", "worker", "--pool=solo"]
    command += ["--concurrency=1", "--loglevel=INFO", "-Q", queue, "--hostname", f"{queue}@%h"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = Worker(process, log_path, queue)
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue  # .delay() in this process sends to the worker's queue
    try:
        _wait_until_ready(running)
        yield running
    finally:
        app.conf.task_default_queue = previous_queue
        _stop(process)
        _purge(queue)


def _purge(queue: str) -> None:
    # kombu's SQLAlchemy transport never deletes a delivered message (it only marks
    # it invisible); purging the run's queue keeps the embedded broker file small.
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def _wait_until_ready(worker: Worker) -> None:
    # "celery@host ready." is logged once the worker consumes; remote-control ping
    # would need broadcast support, which kombu's SQLAlchemy transport lacks.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"celery worker exited with {worker.process.returncode}:\n{worker.log()}")
        if " ready." in worker.log():
            return
        time.sleep(0.2)
    pytest.fail(f"celery worker not ready after {READY_TIMEOUT_S} s:\n{worker.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: warm shutdown, finishes the current task
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _wait_for(predicate: Callable[[], bool], *, timeout: float = 60, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_ping_round_trips_through_broker_and_result_backend(worker):
    with worker.log_on_failure():
        assert ping.delay().get(timeout=60) == "pong"
        assert ping.delay("échó 검사").get(timeout=60) == "échó 검사"  # JSON, not pickle, both ways


def test_job_runs_in_the_worker_and_records_progress_and_result(worker):
    n = 7
    with worker.log_on_failure():
        job = job_create(kind=Job.Kind.OTHER, title="worker self-test", params={"n": n})
        job_enqueue(job=job, task=selftest_task)

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        _wait_for(finished, what=f"job {job.pk} to finish")
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.result == {"counted": n}
        assert (job.progress_done, job.progress_total) == (n, n)
        assert job.progress_message == f"counted {n} of {n}"
        assert job.celery_task_id
        assert job.started_at <= job.finished_at


def test_running_job_stops_at_its_next_progress_report_after_cancel(worker):
    with worker.log_on_failure():
        job = job_create(kind=Job.Kind.OTHER, title="slow self-test", params={"n": 200, "sleep": 0.05})
        job_enqueue(job=job, task=selftest_task)

        def has_progress() -> bool:
            job.refresh_from_db()
            return job.progress_done > 0

        _wait_for(has_progress, what=f"job {job.pk} to report progress")
        assert job_cancel(job=job) is True

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        _wait_for(finished, what=f"job {job.pk} to stop")
        assert job.status == Job.Status.CANCELLED
        assert 0 < job.progress_done < 200
        assert job.result == {}
