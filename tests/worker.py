"""A real `celery worker` process against the configured broker and the test database,
for the tests that must see what eager mode would skip: serialization, the broker, a
second process seeing (or not seeing) committed rows.

The `worker` fixture (tests/conftest.py) starts one per test module (solo pool), on a
queue of its own so that messages left in a persistent broker (the embedded SQLite
file) by an earlier, interrupted run are never picked up, and stops it before the
test database goes. Tests using it need `django_db(transaction=True)`: the worker is
another process and sees only committed rows.
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
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from jobs.queues import QUEUES
from radreview.celery import app

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


def _database_url(settings_dict: dict[str, Any]) -> str:
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


@contextlib.contextmanager
def worker_running(*, root: Path, log_dir: Path) -> Iterator[Worker]:
    """A worker of the project at `root` on a fresh queue, ready to consume, logging
    into `log_dir`; this process sends its tasks there until the block ends, then the
    worker stops."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = log_dir / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "radreview.settings.test",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "JOBS_QUEUE_PREFIX": f"{queue}-",
        "JOBS_HEARTBEAT": "1",  # the worker runs jobs outside any test transaction
        "PYTHONUNBUFFERED": "1",
    }
    queues = ",".join([queue, *(f"{queue}-{q}" for q in QUEUES)])
    command = [sys.executable, "-m", "celery", "-A", "radreview", "worker", "--pool=solo"]
    command += ["--concurrency=1", "--loglevel=INFO", "-Q", queues, "--hostname", f"{queue}@%h"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    running = Worker(process, log_path, queue)
    previous_queue = app.conf.task_default_queue
    previous_prefix = settings.JOBS_QUEUE_PREFIX
    app.conf.task_default_queue = queue  # .delay() in this process sends to the worker's queue
    settings.JOBS_QUEUE_PREFIX = f"{queue}-"  # and job_enqueue to the worker's two job queues
    try:
        _wait_until_ready(running)
        yield running
    finally:
        app.conf.task_default_queue = previous_queue
        settings.JOBS_QUEUE_PREFIX = previous_prefix
        _stop(process)
        for name in queues.split(","):
            _purge(name)


def _purge(queue: str) -> None:
    # kombu's SQLAlchemy transport never deletes a delivered message (it only marks
    # it invisible); purging the run's queue keeps the embedded broker file small.
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)  # type: ignore[attr-defined]  # kombu's Channel has it; its stub lacks it


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


def wait_for(predicate: Callable[[], bool], *, timeout: float = 60, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
