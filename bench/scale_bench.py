"""Scale-out on PostgreSQL + Redis: N generated reports through every cohort stage with 1,
then 2, real Celery worker processes.

    python bench/scale_bench.py [--quick] [--reports N] [--chunk-size 500]

Needs a PostgreSQL server and a Redis server (DATABASE_URL / CELERY_BROKER_URL as the
app reads them; defaults: a database `radreview_scale_bench` on 127.0.0.1, which the
bench drops and creates, and Redis database 5). Reports come from the demo generator
(chest CT, ~100 tokens). Per round (W = 1, then 2 workers `celery -A radreview worker
--pool=solo -c 1`, one thread each, both queues), from an empty corpus:

  import       W files of N/W rows, one import job each (an import is one all-or-nothing
               transaction: two workers import two files at once)
  weak_label   rule-engine weak labels over the corpus (one chunked job)
  stage1       stage 1 inference, int8, a tiny model the bench trains first (one chunked job)
  combined     stage 2 combined mode with no LLM question asked, review sync included

Prints `name: value` lines: <stage>_reports_per_second_<1_worker|2_workers>,
<stage>_reports_per_worker_cpu_second_<round> (the workers' CPU), postgres_cpu_seconds_
<stage>_<round> (the CPU of the PostgreSQL backends serving the bench's database over the
stage, when the server runs on this machine: it shares the cores with the workers) and
postgres_server_cpu_seconds_<stage>_<round> (the whole server's: its background processes
and any other client too), speedup_2_workers (end to end),
peak_rss_mb_worker_<i>_<round>, projected_hours_417k (the 2-worker end-to-end rate on this
machine), then the LLM-server figures of bench/_llm_server.py when it is there. --quick: 10,000 reports.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHOD_REPORTS = 417_133
LOAD_AT_START = os.getloadavg()[0]
STAGES = ("import", "weak_label", "stage1", "combined")
PREFIX = "scalebench-"
READY_TIMEOUT_S = 90
JOB_TIMEOUT_S = 3600


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 reports")
    parser.add_argument("--reports", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--workers", default="1,2", help="the rounds, comma-separated worker counts")
    args = parser.parse_args()
    n = args.reports or (10_000 if args.quick else 100_000)
    rounds = [int(w) for w in args.workers.split(",")]

    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    env = _environment(work, args.chunk_size)
    os.environ.update(env)
    _database_recreate(env["DATABASE_URL"])
    _broker_flush(env["CELERY_BROKER_URL"])

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    files = {w: _write_files(work, n, w) for w in rounds}
    version_dir = _train_stage1(work)

    figures: dict[str, float] = {}
    totals: dict[int, float] = {}
    for w in rounds:
        seconds, rss = _round(w, n, files[w], version_dir, work, env)
        label = _label(w)
        for stage in STAGES:
            figures[f"{stage}_reports_per_second_{label}"] = round(n / seconds[stage], 1)
        totals[w] = sum(seconds.values())
        figures[f"end_to_end_seconds_{label}"] = round(totals[w], 1)
        for i, mb in enumerate(rss, start=1):
            figures[f"peak_rss_mb_worker_{i}_{label}"] = round(mb, 1)
    for (w, stage), cpu in CPU.items():  # what one free core would do (the machine may be shared)
        figures[f"{stage}_reports_per_worker_cpu_second_{_label(w)}"] = round(n / max(cpu, 1e-6), 1)
    for (w, stage), cpu in PG_CPU.items():
        figures[f"postgres_cpu_seconds_{stage}_{_label(w)}"] = round(cpu, 2)
    for (w, stage), cpu in SERVER_CPU.items():
        figures[f"postgres_server_cpu_seconds_{stage}_{_label(w)}"] = round(cpu, 2)
    figures["host_load_1m_at_start"] = LOAD_AT_START
    if 1 in totals and 2 in totals:
        figures["speedup_2_workers"] = round(totals[1] / totals[2], 2)
    best = max(totals, key=lambda w: n / totals[w])
    figures["projected_hours_417k"] = round(METHOD_REPORTS / (n / totals[best]) / 3600, 2)
    figures["reports"] = n
    for name, value in figures.items():
        print(f"{name}: {value}")
    _llm_server_figures(quick=args.quick)


def _label(workers: int) -> str:
    return "1_worker" if workers == 1 else f"{workers}_workers"


def _environment(work: Path, chunk_size: int) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "radreview.settings.development",
        "DEBUG": "false",  # DEBUG keeps every query in memory
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/radreview_scale_bench"
        ),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/5"),
        "RADREVIEW_DATA_DIR": str(work / "data"),
        "JOBS_QUEUE_PREFIX": PREFIX,
        "JOBS_CHUNK_SIZE": str(chunk_size),
        "JOBS_CHUNK_HELPERS": "16",
        "STAGE1_QUANTIZE": "true",
        "OMP_NUM_THREADS": "1",  # one core per worker process
        "MKL_NUM_THREADS": "1",
        "RADREVIEW_DEMO_PIPELINE": "0",
    }


def _database_recreate(url: str) -> None:
    """Drop and create the bench's own database (never the app's)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the bench's database name must contain 'bench'")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _broker_flush(url: str) -> None:
    """Empty the bench's Redis database: messages of an earlier run name job ids that the
    recreated database gives to other jobs."""
    import redis

    if urlparse(url).path.strip("/") in ("", "0"):
        raise SystemExit("refusing to flush Redis database 0: give the bench a database of its own")
    redis.Redis.from_url(url).flushdb()


def _write_files(work: Path, n: int, parts: int) -> list[Path]:
    """The corpus as `parts` JSONL import files (generic layout)."""
    from demo.generator.corpus import generate_reports

    paths = [work / f"reports-{parts}-{i}.jsonl" for i in range(parts)]
    handles = [p.open("w", encoding="utf-8") for p in paths]
    try:
        for i, rec in enumerate(generate_reports(n=n, seed=11, modalities=["chest_ct"])):
            row = {
                "id": f"bench-{i}",
                "patient_id": rec["patient_id"],
                "study_datetime": rec["study_datetime"],
                "modality": rec["modality"],
                "text": rec["text"],
            }
            handles[i % parts].write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        for h in handles:
            h.close()
    return paths


def _train_stage1(work: Path) -> Path:
    """A tiny stage 1 model (seconds to train) on generated reports."""
    import numpy as np
    import torch

    from demo.generator.corpus import generate_reports
    from inference.ml.bert import LabelledSet, TrainConfig, finetune, get_preset
    from inference.ml.defaults import default_keys

    keys = list(default_keys("chest_ct", "Lesion"))
    records = list(generate_reports(n=300, seed=5, modalities=["chest_ct"]))
    present = [{k for k, v in (r["gold"].get("lesions") or {}).items() if _present(v)} for r in records]
    labels = np.array([[k in p for k in keys] for p in present], dtype=np.float32)
    torch.set_num_threads(2)
    out = work / "data" / "models" / "chest_ct" / "bench" / "model"
    finetune(
        LabelledSet([r["text"] for r in records], labels),
        keys=keys,
        preset=get_preset("tiny"),
        out_dir=out,
        config=TrainConfig(epochs=2, batch_size=32, learning_rate=2e-3, patience=1, seed=5),
    )
    return out


def _present(value: Any) -> bool:
    status = value.get("status") if isinstance(value, dict) else value
    return status == "present"


def _model_version_install(version_dir: Path) -> None:
    from django.conf import settings

    from annotations.models import Modality
    from inference.ml.bert import Stage1Predictor
    from inference.models import ModelVersion

    manifest = Stage1Predictor.load(version_dir).manifest
    ModelVersion.objects.create(
        modality=Modality.objects.get(code="chest_ct"),
        name="chest_ct-bench",
        preset="tiny",
        status=ModelVersion.Status.READY,
        is_active=True,
        keys=list(manifest.keys),
        thresholds=dict(manifest.thresholds),
        artifact_path=str(version_dir.relative_to(settings.MODEL_STORAGE_DIR)),
    )


def _reset() -> None:
    """An empty corpus (and no jobs) for the next round; the model version stays."""
    from django.db import connection

    from jobs.models import Job

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotations_report CASCADE")
    Job.objects.all().delete()


def _round(
    workers: int, n: int, files: list[Path], version_dir: Path, work: Path, env: dict[str, str]
) -> tuple[dict[str, float], list[float]]:
    from inference.ml.questions import QUESTION_TYPES
    from inference.models import LLMQuestionType, ModelVersion

    _reset()
    if not ModelVersion.objects.filter(name="chest_ct-bench").exists():
        _model_version_install(version_dir)
    for code in QUESTION_TYPES:  # the combined mode asks the LLM nothing: rules and stage 1 only
        LLMQuestionType.objects.update_or_create(code=code, defaults={"asked": False, "set_by": "admin"})
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    seconds: dict[str, float] = {}
    try:
        for i in range(workers):
            procs.append(_worker_start(i, workers, work, env))
        pids = [p.pid for p, _log in procs]
        for stage, start in (
            ("import", lambda: _import_jobs(files)),
            ("weak_label", lambda: [_weak_label_job()]),
            ("stage1", lambda: [_stage1_job()]),
            ("combined", lambda: [_combined_job()]),
        ):
            cpu, server_cpu = _cpu_seconds(pids), _postgres_cpu_seconds()
            backends = _BackendsCpu(urlparse(env["DATABASE_URL"]).path.lstrip("/"))
            seconds[stage] = _timed(start(), sample=backends.sample)
            backends.sample()
            CPU[(workers, stage)] = _cpu_seconds(pids) - cpu
            if server_cpu is not None:
                SERVER_CPU[(workers, stage)] = (_postgres_cpu_seconds() or 0.0) - server_cpu
                PG_CPU[(workers, stage)] = backends.seconds()
            if stage == "import":
                _check_count(n)
        rss = [_peak_rss_mb(pid) for pid in pids]
    finally:
        for proc, _log in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for stage, s in seconds.items():
        print(f"# {workers} worker(s): {stage} {s:.1f} s", file=sys.stderr)
    return seconds, rss


def _worker_start(
    i: int, workers: int, work: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], Path]:
    log = work / f"worker-{workers}-{i}.log"
    queues = f"{PREFIX}heavy,{PREFIX}interactive"
    command = [sys.executable, "-m", "celery", "-A", "radreview", "worker", "--pool=solo", "-c", "1"]
    command += ["-Q", queues, "-n", f"bench{i}-{workers}@%h", "--loglevel=INFO"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"worker {i} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return proc, log


def _timed(job_ids: list[int], *, sample: Any = None) -> float:
    from jobs.models import Job

    started = time.monotonic()
    deadline = started + JOB_TIMEOUT_S
    while True:
        jobs = list(Job.objects.filter(pk__in=job_ids))
        if all(j.is_finished for j in jobs):
            break
        if time.monotonic() > deadline:
            raise SystemExit("a job did not finish in time")
        if sample is not None:
            sample()
        time.sleep(0.1)
    seconds = time.monotonic() - started
    failed = [j for j in jobs if j.status != Job.Status.SUCCEEDED]
    if failed:
        raise SystemExit(f"job {failed[0].pk} ({failed[0].kind}) {failed[0].status}: {failed[0].error[:500]}")
    return seconds


def _enqueue(job: Any, task: Any) -> int:
    from django.db import transaction

    from jobs.services import job_enqueue

    with transaction.atomic():
        job_enqueue(job=job, task=task)
    return int(job.pk)


def _import_jobs(files: list[Path]) -> list[int]:
    import shutil

    from django.conf import settings

    from annotations.tasks import import_reports_task
    from jobs.models import Job
    from jobs.services import job_create

    settings.UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    ids = []
    for i, path in enumerate(files):
        copy = settings.UPLOAD_DIR / f"bench-{i}-{time.time_ns()}.jsonl"
        shutil.copy(path, copy)  # the import deletes its upload
        params = {
            "path": str(copy),
            "filename": copy.name,
            "fmt": "jsonl",
            "source": f"bench{i}",
            "on_duplicate": "skip",
            "default_modality": None,
        }
        job = job_create(kind=Job.Kind.IMPORT, title=f"bench import {i}", params=params)
        ids.append(_enqueue(job, import_reports_task))
    return ids


def _check_count(n: int) -> None:
    from annotations.models import Report

    count = Report.objects.count()
    if count != n:
        raise SystemExit(f"imported {count} reports, expected {n}")


def _weak_label_job() -> int:
    from annotations.services.weak_labels import weak_label_job_create
    from annotations.tasks import weak_label_task

    job = weak_label_job_create(modalities=["chest_ct"], modes=["rule_engine"], prune_older=False, user=None)
    return _enqueue(job, weak_label_task)


def _stage1_job() -> int:
    from inference.services.stage1_inference import Cohort, inference_job_create
    from inference.tasks.stage1 import stage1_infer_task

    return _enqueue(inference_job_create(cohort=Cohort(modalities=["chest_ct"])), stage1_infer_task)


def _combined_job() -> int:
    from inference.services.stage2 import Cohort, stage2_job_create
    from inference.tasks.stage2 import stage2_batch_task

    return _enqueue(stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="combined"), stage2_batch_task)


CPU: dict[tuple[int, str], float] = {}  # (workers, stage) -> the workers' CPU seconds


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the worker processes (the database's are not counted)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


PG_CPU: dict[tuple[int, str], float] = {}  # (workers, stage) -> the bench database's backends' CPU
SERVER_CPU: dict[tuple[int, str], float] = {}  # (workers, stage) -> the whole PostgreSQL server's CPU


class _BackendsCpu:
    """CPU seconds of the PostgreSQL backends serving one database (the workers' and the
    bench's connections; other clients of a shared server are left out), sampled as the
    stage runs: a backend seen first after the stage began started during it, and one
    that exits keeps the CPU of its last sample (at most one poll's worth is lost)."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} "
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.started = False
        self.sample()
        self.started = True

    def sample(self) -> None:
        for pid, ticks in _database_backends(self.marker).items():
            self.first.setdefault(pid, ticks if not self.started else 0)
            self.last[pid] = ticks

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last) / os.sysconf("SC_CLK_TCK")


def _database_backends(marker: str) -> dict[int, int]:
    """pid -> utime + stime ticks of the postgres processes whose title names the database
    ("postgres: 15/main: USER DATABASE HOST(PORT) STATE")."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
            if not head.endswith("(postgres"):
                continue
            title = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited meanwhile
            continue
        if marker in title:
            fields = rest.split()
            out[int(head.split(" ", 1)[0])] = int(fields[11]) + int(fields[12])
    return out


def _postgres_cpu_seconds() -> float | None:
    """User + system CPU seconds of the local PostgreSQL server: the postmaster's own and
    its children's that exited (cutime, cstime: a backend of a closed connection), plus
    its live children's (backends, WAL writer, autovacuum...). The whole server, so any
    other client of it counts too. None when no postmaster runs here."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except OSError:  # exited meanwhile
            continue
        if head.split("(", 1)[1] == "postgres":
            procs[int(head.split(" ", 1)[0])] = rest.split()
    masters = [pid for pid, f in procs.items() if int(f[1]) not in procs]  # f[1]: the parent's pid
    if not masters:
        return None
    ticks = 0
    for pid, f in procs.items():
        ticks += int(f[11]) + int(f[12])  # utime, stime
        if pid in masters:
            ticks += int(f[13]) + int(f[14])  # cutime, cstime: the children that exited
    return ticks / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """The worker process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _llm_server_figures(*, quick: bool) -> None:
    try:
        from _llm_server import figures  # bench/ (this script's folder) is on sys.path
    except ImportError:
        print("# the LLM-server figures (fake server and real local server) come from bench/_llm_server.py,")
        print("# which is not in this checkout")
        return
    for name, value in figures(quick).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
