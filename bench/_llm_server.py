"""Stage 2 through a local OpenAI-compatible server, sequential and with requests in
flight, through the product's path: what a stage 2 chunk runs
(inference.services.stage2.stage2_reports_run: prompt, HTTP, validation, the grouped
upsert and the batched review sync).

    from _llm_server import figures      # bench/scale_bench.py, bench/llm_server_bench.py
    figures(quick=True)                  # {name: reports per second}

Needs Django set up (it is, when imported by a bench that called setup_django) and a
migrated database. Figures:

- `llm_server_reports_per_second_sequential` / `_concurrent`: the fake server
  (inference.ml.llm.servers, its own process so it shares no interpreter lock with
  the client) at 200 ms per request, one in flight, then 16.
- `real_llm_server_reports_per_second_sequential` / `_concurrent`: llama-cpp-python's
  server on the bundled 0.5B preset, one in flight, then 4 (it evaluates one request
  at a time: no parallel slots), only when the model file and the server packages
  are there.

The reports (source "bench-llm-server", generated demo chest CT text) and their rows
are removed afterwards.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SOURCE = "bench-llm-server"
FAKE_LATENCY_S = 0.2
FAKE_IN_FLIGHT = 16
REAL_IN_FLIGHT = 4
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _reports(n: int) -> list[Any]:
    from annotations.models import Modality, Report
    from demo.generator.corpus import generate_reports

    chest = Modality.objects.get(code="chest_ct")
    rows: list[Report] = []
    for i, rec in enumerate(r for r in generate_reports(n=n * 4, seed=7) if r["modality"] == "chest_ct"):
        if len(rows) == n:
            break
        rows.append(
            Report(
                source=SOURCE,
                external_id=f"{rec['id']}-{i}",
                patient_id=rec["patient_id"],
                modality=chest,
                text=rec["text"],
                content_hash=hashlib.sha256(rec["text"].encode()).hexdigest(),
            )
        )
    Report.objects.bulk_create(rows)
    return list(Report.objects.filter(source=SOURCE).select_related("modality").order_by("pk"))


def _cleanup() -> None:
    from django.db import connection

    from annotations.models import Report
    from inference.models import Stage2Prediction
    from review.models import ReviewFinding, ReviewReport

    ReviewFinding.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    ReviewReport.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    Stage2Prediction.objects.filter(report__source=SOURCE)._raw_delete(connection.alias)
    Report.objects.filter(source=SOURCE).delete()


def _rate(reports: list[Any], *, url: str, model: str, max_in_flight: int, timeout: float) -> float:
    """Reports per second of one stage 2 pass over `reports` (rows replaced each pass)."""
    from django.conf import settings

    from annotations.models import Modality
    from inference.services import stage2_backend
    from inference.services.stage2 import stage2_plan, stage2_reports_run

    settings.RADREVIEW_LLM = {
        **settings.RADREVIEW_LLM,
        "BACKEND": "openai",
        "SERVER_URL": url,
        "MODEL": model,
        "MAX_IN_FLIGHT": max_in_flight,
        "REQUEST_TIMEOUT": timeout,
    }
    stage2_backend.llm_backend_reset()
    run = stage2_plan(modality=Modality.objects.get(code="chest_ct"), mode="llm")
    started = time.perf_counter()
    counts = stage2_reports_run(job=None, run=run, reports=reports)  # a chunk's body, review sync included
    elapsed = time.perf_counter() - started
    assert counts["ok"] + counts["failed"] == len(reports), counts
    return len(reports) / elapsed


def _fake_figures(quick: bool) -> dict[str, float]:
    from inference.ml.llm.servers import wait_for_server

    port = _free_port()
    command = [sys.executable, "-m", "inference.ml.llm.servers", "fake", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--latency", str(FAKE_LATENCY_S)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_server(url, timeout=30, process=server)
        sequential = _reports(16 if quick else 32)
        out = {
            "llm_server_reports_per_second_sequential": _rate(
                sequential, url=url, model="fake", max_in_flight=1, timeout=30
            )
        }
        _cleanup()
        concurrent = _reports(FAKE_IN_FLIGHT * (6 if quick else 12))
        out["llm_server_reports_per_second_concurrent"] = _rate(
            concurrent, url=url, model="fake", max_in_flight=FAKE_IN_FLIGHT, timeout=30
        )
        return out
    finally:
        server.terminate()
        server.wait(timeout=10)
        _cleanup()


def _real_figures(quick: bool) -> dict[str, float]:
    from inference.ml.llm.backends import LLMConfigError
    from inference.ml.llm.servers import LlamaServer, llama_server_available
    from inference.services.stage2_backend import resolve_model_path

    try:
        model = resolve_model_path(os.environ.get("BENCH_LLM_PRESET", "qwen2.5-coder-0.5b"))
    except LLMConfigError:
        return {}
    if llama_server_available() is not None:
        return {}
    server = LlamaServer(model, port=_free_port(), n_ctx=4096)
    with server:
        try:
            n = 3 if quick else 8
            reports = _reports(n)
            url = server.url
            _rate(reports[:1], url=url, model=server.model, max_in_flight=1, timeout=600)  # warm the prefix
            out = {
                "real_llm_server_reports_per_second_sequential": _rate(
                    reports, url=url, model=server.model, max_in_flight=1, timeout=600
                ),
                "real_llm_server_reports_per_second_concurrent": _rate(
                    reports, url=url, model=server.model, max_in_flight=REAL_IN_FLIGHT, timeout=600
                ),
            }
        finally:
            _cleanup()
    return out


def figures(quick: bool) -> dict[str, float]:
    """name -> reports per second (see the module docstring); real-server keys only
    when the model and the server packages are there."""
    from django.conf import settings

    saved = dict(settings.RADREVIEW_LLM)
    try:
        out = _fake_figures(quick)
        if os.environ.get("BENCH_SKIP_REAL_LLM") != "1":
            out |= _real_figures(quick)
    finally:
        settings.RADREVIEW_LLM = saved
        from inference.services import stage2_backend

        stage2_backend.llm_backend_reset()
    return {name: round(value, 3) for name, value in out.items()}
