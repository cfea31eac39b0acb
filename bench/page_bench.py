"""Page load times in Chromium, as each role sees them, with the demo data.

    python bench/page_bench.py [--quick] [--runs N] [--keep-db]

Sets up its own database and static files under var/bench (migrate, collectstatic,
demo_setup, then a stored evaluation per modality and the brain MRI combined mapping,
both without the LLM, run in-process), starts the app the way scripts/run.sh does
(runserver with WhiteNoise serving collectstatic's output, DEBUG off), signs in as each
demo role in Debian's Chromium through Playwright with the browser cache disabled (CDP
Network.setCacheDisabled), and loads each page of the role N times after one unmeasured
load (the server's first request of a page imports and warms what it uses: plotly's
figure classes, the rules). A page's time is its navigation timing loadEventEnd, or, on
a page with charts, the moment the charts on screen are drawn when that is later
(static/js/charts.js marks it). Prints `name: value` lines: `page_load_p95_ms_<page>`
per page, `page_load_p95_ms_max`, and `largest_static_kb` (the largest static file a
page loaded, as served: compressed, in kB). Target: every page under 1000 ms p95.
--quick: 5 loads a page (about two minutes once var/bench exists; the first run builds
it, a few minutes more).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench"
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORDS = {
    "admin": "admin-demo-pass",
    "annotator": "annotator-demo-pass",
    "clinician": "clinician-demo-pass",
}


def _env() -> dict[str, str]:
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "radreview.settings.development",
        "DEBUG": "false",
        "SECRET_KEY": "page-bench-only",
        "RADREVIEW_DATA_DIR": str(DATA_DIR),
        "DATABASE_URL": f"sqlite:///{DATA_DIR / 'radreview.sqlite3'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}",
        # Set-up jobs (evaluation, stage 2) run in this process, not in a worker.
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "JOBS_HEARTBEAT": "false",
        "OMP_NUM_THREADS": "1",
    }


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=_env(), check=True, stdout=subprocess.DEVNULL)


SETUP_DATA = """
from analytics.models import EvaluationRun
from analytics.services.evaluation import evaluation_start
from analytics.tasks import evaluation_task
from annotations.models import Modality
from inference.services.stage2 import Cohort, stage2_job_create
from inference.tasks.stage2 import stage2_batch_task
from jobs.services import job_enqueue
from django.contrib.auth.models import User

admin = User.objects.get(username="admin")
if not EvaluationRun.objects.exists():
    for modality in Modality.objects.all():
        run = evaluation_start(user=admin, modality=modality, gold_set="heldout", modes=["rules", "keyword"])
        job_enqueue(job=run.job, task=evaluation_task)
    # Brain MRI's combined mode reads diagnoses and episodes with the rule engine (no LLM):
    # the longitudinal view and the review queue get stored stage 2 results.
    job = stage2_job_create(cohort=Cohort(modality="brain_mri"), mode="combined", user=admin)
    job_enqueue(job=job, task=stage2_batch_task)
print("bench data ready")
"""


def setup_data(*, fresh: bool) -> None:
    if fresh and DATA_DIR.exists():
        shutil.rmtree(DATA_DIR)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print("setting up var/bench (migrate, collectstatic, demo, evaluation, stage 2) ...", file=sys.stderr)
    _manage("migrate", "--noinput", "-v", "0")
    _manage("collectstatic", "--noinput", "-v", "0")
    _manage("demo_setup", "--force")
    _manage("shell", "-c", SETUP_DATA)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server() -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env() | {"CELERY_TASK_ALWAYS_EAGER": "false"}
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2)  # noqa: S310 (our own server)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pages(setup: str) -> dict[str, list[tuple[str, str]]]:
    """(name, path) of every page a role lives in; ids from the bench database."""
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", setup],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    ids = dict(line.split("=", 1) for line in out.split() if "=" in line)
    admin = [
        ("home", "/"),
        ("jobs", "/jobs/"),
        ("models", "/models/"),
        ("stage2", "/models/stage2/"),
        ("analytics", "/analytics/"),
        ("evaluation", f"/analytics/evaluations/{ids['evaluation']}/"),
        ("longitudinal", "/analytics/longitudinal/"),
        ("rules", "/annotations/rules/"),
        ("values", "/annotations/values/"),
        ("reports", "/annotations/reports/"),
        ("import", "/annotations/import/"),
    ]
    annotator = [("annotation_queue", "/annotations/queue/")]
    if ids.get("assignment"):
        annotator.append(("annotate", f"/annotations/assignments/{ids['assignment']}/"))
    clinician = [("review_queue", "/review/")]
    if ids.get("review"):
        clinician.append(("review", f"/review/{ids['review']}/"))
    return {"admin": admin, "annotator": annotator, "clinician": clinician}


PAGE_IDS = """
from analytics.models import EvaluationRun
from annotations.models import Assignment
from django.contrib.auth.models import User
print("evaluation=%s" % EvaluationRun.objects.order_by("-pk").values_list("pk", flat=True).first())
a = Assignment.objects.filter(annotator__username="annotator", status__in=["todo", "in_progress"]).first()
print("assignment=%s" % (a.pk if a else ""))
from review.models import ReviewReport
r = ReviewReport.objects.order_by("pk").values_list("report_id", flat=True).first()
print("review=%s" % (r or ""))
"""


# loadEventEnd, or later when the page has charts: until the ones on screen are drawn
# (static/js/charts.js marks it; charts below the window are drawn when scrolled to).
PAGE_TIME = """async () => {
  const nav = () => performance.getEntriesByType('navigation')[0];
  while (!nav().loadEventEnd) await new Promise(r => setTimeout(r, 10));
  let end = nav().loadEventEnd;
  if (document.querySelector('[data-chart]')) {
    const mark = 'radreview:charts-visible';
    for (let i = 0; i < 1000 && !performance.getEntriesByName(mark).length; i++)
      await new Promise(r => setTimeout(r, 10));
    const found = performance.getEntriesByName(mark)[0];
    if (!found) throw new Error('charts not drawn within 10 s');
    end = Math.max(end, found.startTime);
  }
  return end - nav().startTime;
}"""


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("main button[type=submit]")
    page.wait_for_load_state("load")


def measure(base: str, pages: dict[str, list[tuple[str, str]]], runs: int) -> tuple[dict[str, float], float]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {}
    largest = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for role, role_pages in pages.items():
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            sizes: dict[str, int] = {}
            cdp.on(
                "Network.loadingFinished",
                lambda e, s=sizes: s.__setitem__(e["requestId"], e["encodedDataLength"]),
            )
            urls: dict[str, str] = {}
            cdp.on(
                "Network.responseReceived",
                lambda e, u=urls: u.__setitem__(e["requestId"], e["response"]["url"]),
            )
            _log_in(page, base, role)
            for name, path in role_pages:
                samples = times.setdefault(name, [])
                page.goto(f"{base}{path}", wait_until="load")  # warm-up, not measured: see the docstring
                for _ in range(runs):
                    response = page.goto(f"{base}{path}", wait_until="load")
                    if response is None or response.status != 200:
                        raise RuntimeError(f"{role} {path}: {response.status if response else 'no response'}")
                    samples.append(page.evaluate(PAGE_TIME))
            for request_id, url in urls.items():
                if "/static/" in url and request_id in sizes:
                    largest = max(largest, sizes[request_id])
            context.close()
        browser.close()
    p95 = {name: _p95(s) for name, s in times.items()}
    return p95, largest / 1024


def _p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 loads a page")
    parser.add_argument("--runs", type=int, default=0, help="loads a page (default 20, --quick 5)")
    parser.add_argument("--fresh", action="store_true", help="rebuild var/bench from scratch")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 20)
    started = time.monotonic()
    setup_data(fresh=args.fresh)
    pages = _pages(PAGE_IDS)
    with server() as base:
        p95, largest_kb = measure(base, pages, runs)
    for name, value in p95.items():
        print(f"page_load_p95_ms_{name}: {value:.0f}")
    slowest = max(p95, key=lambda n: p95[n])
    print(f"page_load_p95_ms_max: {p95[slowest]:.0f}  # {slowest}")
    print(f"largest_static_kb: {largest_kb:.1f}")
    print(f"loads_per_page: {runs}")
    print(f"bench_seconds: {time.monotonic() - started:.0f}")


if __name__ == "__main__":
    main()
