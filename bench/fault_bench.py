"""Background jobs under the faults of real use, end to end with real worker processes.

    python bench/fault_bench.py [--quick] [--reports N]
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python bench/fault_bench.py

A scratch data directory (SQLite database and SQLite broker unless DATABASE_URL /
CELERY_BROKER_URL say otherwise), the embedded layout of scripts/run.sh: an interactive
worker, a heavy worker and beat, as subprocesses. Then:

1. concurrent writes: a stage 2 batch (rules mode), a weak-label job and an import run
   while this process keeps saving annotations on its own connection;
2. kill -9: the heavy worker is killed during a stage 2 batch and the interactive worker
   during a self-test job; both are restarted at once; the jobs must finish, with no
   duplicate prediction rows;
3. cancel: a running self-test, a running stage 2 batch and an import in its write pass;
4. an import queued while a stage 2 batch occupies the heavy worker.

Prints `jobs_finished_under_concurrent_writes` (finished / started),
`jobs_recovered_after_kill` (finished / killed), `recovery_seconds_max` (kill to progress
again), `cancels_honoured` (ended cancelled / requested), `duplicate_rows`,
`interactive_wait_seconds_max` (queued to started). Targets: 1.0, 1.0, < 120, 1.0, 0, < 10.
--quick: fewer reports and the liveness timings shortened (heartbeat 2 s, stale after 8 s,
checked every 4 s; printed), so it ends in about two minutes; without it the defaults apply.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = Path(tempfile.mkdtemp(prefix="fault-bench-"))


def line(name: str, value: Any) -> None:
    print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def configure(quick: bool) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "radreview.settings.development",
        "RADREVIEW_DATA_DIR": str(SCRATCH),
        "SECRET_KEY": os.environ.get("SECRET_KEY", "fault-bench"),
        "PYTHONUNBUFFERED": "1",
    }
    if quick:
        env |= {"JOBS_HEARTBEAT_SECONDS": "2", "JOBS_STALE_SECONDS": "8", "JOBS_REQUEUE_EVERY_SECONDS": "4"}
    os.environ.update(env)
    return {**os.environ, **env}


class Celery:
    """The three processes of the embedded layout; a worker can be killed and restarted."""

    COMMANDS = {
        "interactive": ["worker", "--pool=solo", "-Q", "interactive", "-n", "interactive@%h"],
        "heavy": ["worker", "--pool=solo", "-Q", "heavy,celery", "-n", "heavy@%h"],
        "beat": ["beat", "--schedule", str(SCRATCH / "beat-schedule")],
    }

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        log = (SCRATCH / f"{name}.log").open("ab")
        command = [sys.executable, "-m", "celery", "-A", "radreview", *self.COMMANDS[name], "--loglevel=INFO"]
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    print(f"# gave up waiting for {what}", file=sys.stderr)
    return False


def seed(n: int) -> None:
    from annotations.models import Modality, Report
    from demo.generator.corpus import generate_reports

    chest = Modality.objects.get(code="chest_ct")
    rows = list(generate_reports(n=n, seed=5, modalities=["chest_ct"]))
    Report.objects.bulk_create(
        Report(
            source="bench",
            external_id=f"b{i}",
            patient_id=f"p{i % 50}",
            modality=chest,
            text=r["text"],
            content_hash=f"{i:064x}",
        )
        for i, r in enumerate(rows)
    )


def import_file(rows: int) -> Path:
    path = SCRATCH / f"import-{time.monotonic_ns()}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(rows):
            record = {"id": f"i{time.monotonic_ns()}-{i}", "patient_id": f"q{i}", "modality": "chest_ct"}
            record |= {"study_datetime": "2024-01-02", "text": f"Small nodule in the RUL, report {i}."}
            out.write(json.dumps(record) + "\n")
    return path


def start_import(rows: int) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotations.services.importing import import_job_create
    from annotations.tasks import import_reports_task
    from jobs.services import job_enqueue

    path = import_file(rows)
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/json")
    job = import_job_create(
        upload=upload,
        source="bench-import",
        fmt="jsonl",
        on_duplicate="skip",
        default_modality=None,
        user=None,
    )
    job_enqueue(job=job, task=import_reports_task)
    return job


def start_stage2() -> Any:
    from inference.services.stage2 import Cohort, stage2_job_create
    from inference.tasks.stage2 import stage2_batch_task
    from jobs.services import job_enqueue

    job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="rules")
    job_enqueue(job=job, task=stage2_batch_task)
    return job


def start_weak_labels() -> Any:
    from annotations.services.weak_labels import weak_label_job_create
    from annotations.tasks import weak_label_task
    from jobs.services import job_enqueue

    job = weak_label_job_create(modalities=["chest_ct"], modes=["keyword"], prune_older=False, user=None)
    job_enqueue(job=job, task=weak_label_task)
    return job


def start_selftest(n: int, pause: float) -> Any:
    from jobs.models import Job
    from jobs.services import job_create, job_enqueue
    from jobs.tasks import selftest_task

    job = job_create(kind=Job.Kind.OTHER, title="self-test", params={"n": n, "sleep": pause})
    job_enqueue(job=job, task=selftest_task)
    return job


def row(job: Any) -> Any:
    from jobs.models import Job

    return Job.objects.get(pk=job.pk)


def finished(job: Any) -> bool:
    return bool(row(job).is_finished)


def ended(job: Any) -> Callable[[], bool]:
    return lambda: finished(job)


def progressed(job: Any, beyond: int) -> Callable[[], bool]:
    """The job's progress passed `beyond`, or it ended."""
    return lambda: row(job).progress_done > beyond or finished(job)


class AnnotatorWrites(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.errors: list[str] = []
        self.writes = 0

    def run(self) -> None:
        from django.contrib.auth.models import User
        from django.db import connection

        from annotations.models import Assignment, EntityKey, Mention, Report

        report = Report.objects.order_by("pk").first()
        assert report is not None
        annotator, _ = User.objects.get_or_create(username="bench-annotator")
        assignment = Assignment.objects.create(report=report, annotator=annotator)
        key = EntityKey.objects.get(name="nodule", entity_type__modality__code="chest_ct")
        try:
            while not self.stopped.is_set():
                m = Mention.objects.create(assignment=assignment, report=report, key=key, start=0, end=5)
                m.delete()
                self.writes += 2
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()


def concurrent_writes(timeout: float) -> float:
    writer = AnnotatorWrites()
    writer.start()
    jobs = [start_stage2(), start_weak_labels(), start_import(2000)]
    wait_for(lambda: all(finished(j) for j in jobs), timeout, "the jobs under concurrent writes")
    writer.stopped.set()
    writer.join(timeout=30)
    if writer.errors:
        print(f"# the annotator's writes failed: {writer.errors[0]}", file=sys.stderr)
    line("annotator_writes_during_jobs", writer.writes)
    ok = [row(j).status == "succeeded" for j in jobs]
    for j, good in zip(jobs, ok, strict=True):
        if not good:
            print(f"# job {j.pk} ({j.kind}) ended {row(j).status}: {row(j).error[:200]}", file=sys.stderr)
    return sum(ok) / len(jobs)


def kill_and_recover(celery: Celery, timeout: float) -> tuple[float, float, int]:
    from django.db.models import Count

    from inference.models import Stage2Prediction

    recovered, seconds = [], []
    for worker, start in (("heavy", start_stage2), ("interactive", lambda: start_selftest(400, 0.05))):
        job = start()
        wait_for(progressed(job, 19), timeout, f"{worker} progress before the kill")
        at_kill = row(job).progress_done
        killed = time.monotonic()
        celery.kill(worker)
        celery.start(worker)
        moved = wait_for(progressed(job, at_kill), timeout, "recovery")
        seconds.append(time.monotonic() - killed if moved else float("inf"))
        wait_for(ended(job), timeout, f"the {worker} job after the kill")
        recovered.append(row(job).status == "succeeded")
    pairs = Stage2Prediction.objects.values("report_id", "run_key").annotate(n=Count("id"))
    duplicates = pairs.filter(n__gt=1).count()
    return sum(recovered) / len(recovered), max(seconds), duplicates


def cancels(timeout: float) -> float:
    from jobs.services import job_cancel

    honoured = []
    plans: tuple[tuple[Callable[[], Any], Callable[[Any], bool]], ...] = (
        (lambda: start_selftest(400, 0.05), lambda j: row(j).progress_done >= 5),
        (start_stage2, lambda j: row(j).progress_done >= 20),
        (lambda: start_import(30000), lambda j: row(j).progress_message.startswith("Writing")),
    )
    for start, when in plans:
        job = start()
        wait_for(lambda: when(job) or finished(job), timeout, "the moment to cancel")  # noqa: B023
        job_cancel(job=row(job))
        wait_for(ended(job), timeout, "the cancelled job to end")
        status = row(job).status
        if status != "cancelled":
            print(f"# a cancel of job {job.pk} ({job.kind}) ended {status}", file=sys.stderr)
        honoured.append(status == "cancelled")
    return sum(honoured) / len(honoured)


def interactive_wait(timeout: float) -> float:
    heavy = start_stage2()
    wait_for(lambda: row(heavy).status == "running", timeout, "the heavy job to start")
    job = start_import(5)
    wait_for(lambda: row(job).started_at is not None, timeout, "the import to start")
    current = row(job)
    waited = (current.started_at - current.created_at).total_seconds() if current.started_at else float("inf")
    wait_for(lambda: finished(heavy) and finished(job), timeout, "both jobs")
    return waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reports", type=int, default=None, help="reports in the database (default 3000)")
    args = parser.parse_args()
    env = configure(args.quick)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    line("database", connection.vendor)
    if args.quick:
        line("liveness_settings", "heartbeat 2 s, stale after 8 s, checked every 4 s (--quick)")
    call_command("migrate", verbosity=0)
    seed(args.reports or (1500 if args.quick else 3000))
    celery = Celery(env)
    for name in Celery.COMMANDS:
        celery.start(name)
    timeout = 180.0 if args.quick else 600.0
    try:
        line("jobs_finished_under_concurrent_writes", concurrent_writes(timeout))
        recovered, recovery, duplicates = kill_and_recover(celery, timeout)
        line("jobs_recovered_after_kill", recovered)
        line("recovery_seconds_max", recovery)
        line("cancels_honoured", cancels(timeout))
        line("duplicate_rows", duplicates)
        line("interactive_wait_seconds_max", interactive_wait(timeout))
    finally:
        celery.stop()


if __name__ == "__main__":
    main()
