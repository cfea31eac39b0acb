"""scripts/deploy_local.sh end to end on PostgreSQL and Redis (CI has both; skipped on
the embedded SQLite defaults): it migrates a fresh database, starts gunicorn, a worker
per queue, beat and the LLM server (the fake one: fixed latency, no model), answers
on /healthz and the login page, runs a stage 2 job queued through the broker to the
end, and `stop` leaves no process behind."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import ROOT

DATABASE_URL = os.environ.get("DATABASE_URL", "")
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not DATABASE_URL.startswith(("postgres://", "postgresql://"))
        or not BROKER_URL.startswith("redis://"),
        reason="needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (as in CI)",
    ),
]

SCRIPT = ROOT / "scripts" / "deploy_local.sh"
JOB_SNIPPET = """
import hashlib, time
from annotations.models import Modality, Report
from inference.services.stage2 import Cohort, stage2_job_create
from inference.tasks.stage2 import stage2_batch_task
from jobs.services import job_enqueue
chest = Modality.objects.get(code="chest_ct")
for i, text in enumerate(["8 mm nodule in the right upper lobe.", "No pleural effusion."]):
    Report.objects.create(source="deploy-test", external_id=f"d{i}", patient_id="P1", modality=chest,
                          text=text, content_hash=hashlib.sha256(text.encode()).hexdigest())
job = stage2_job_create(cohort=Cohort(modality="chest_ct"), mode="llm")
job_enqueue(job=job, task=stage2_batch_task)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    job.refresh_from_db()
    if job.status in ("succeeded", "failed", "cancelled"):
        break
    time.sleep(0.5)
print("JOB", job.status, job.result and job.result.get("ok"), job.queue)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_sql(statement: str) -> None:
    import psycopg

    parts = urlsplit(DATABASE_URL)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
        autocommit=True,
    ) as conn:
        conn.execute(statement)  # our own identifiers, no input


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    name = f"radreview_deploy_{tag}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": _with_database(DATABASE_URL, name),
        "CELERY_BROKER_URL": BROKER_URL,
        "DJANGO_SETTINGS_MODULE": "radreview.settings.production",
        "SECRET_KEY": "deploy-test-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "RADREVIEW_DATA_DIR": str(tmp_path / "data"),
        # Kept between runs: the script skips collectstatic (a CPU minute) when nothing changed.
        "STATIC_ROOT": str(ROOT / "var" / "test" / "deploy-static"),
        "DEPLOY_DIR": str(tmp_path / "deploy"),
        "DEPLOY_NAME": name,
        "JOBS_QUEUE_PREFIX": f"d{tag}-",  # Job.queue holds 32 characters
        "WEB_PORT": str(_free_port()),
        "WEB_WORKERS": "1",
        "HEAVY_CONCURRENCY": "1",
        "LLM_SERVER": "fake",
        "LLM_FAKE_LATENCY": "0.05",
        "LLM_PORT": str(_free_port()),
        "HEALTH_TIMEOUT": "90",
    }
    env.pop("CELERY_RESULT_BACKEND", None)
    try:
        yield env
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, cwd=ROOT, timeout=60, check=False)
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _get(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own localhost URL)
        return response.status, response.read()


def test_the_local_deployment_starts_runs_a_job_and_stops(deployment):
    env = deployment
    started = time.monotonic()
    run = subprocess.run(
        ["bash", str(SCRIPT), "start"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout + run.stderr
    web = f"http://127.0.0.1:{env['WEB_PORT']}"
    assert _get(web + "/healthz") == (200, b'{"status": "ok"}')
    status, page = _get(web + "/accounts/login/")
    assert status == 200 and b"password" in page.lower()

    # The deployment's LLM settings, as an admin's command would read them.
    llm_env = (Path(env["DEPLOY_DIR"]) / "llm.env").read_text().split()
    env |= dict(line.split("=", 1) for line in llm_env)
    shell = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", JOB_SNIPPET],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [ln for ln in shell.stdout.splitlines() if ln.startswith("JOB ")]
    assert line == [f"JOB succeeded 2 {env['JOBS_QUEUE_PREFIX']}interactive"], shell.stdout + shell.stderr

    status_run = subprocess.run(
        ["bash", str(SCRIPT), "status"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert status_run.returncode == 0, status_run.stdout
    pids = [int(p.read_text()) for p in (Path(env["DEPLOY_DIR"]) / "pids").glob("*.pid")]
    assert len(pids) == 5
    stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert stop.returncode == 0, stop.stderr
    assert [pid for pid in pids if _running(pid)] == []
    print(f"deploy test took {time.monotonic() - started:.0f}s")
