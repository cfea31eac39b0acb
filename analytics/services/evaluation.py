"""Evaluation runs: start one (a web request) and execute it (the Celery job).

    run = evaluation_start(user=..., modality=..., gold_set="heldout", modes=[...])
    job_enqueue(job=run.job, task=evaluation_task)      # the caller (view, API, demo)
    evaluation_execute(job)                             # analytics.tasks.evaluation_task

The job asks `inference.services.evaluation.evaluate_modes` for each method's
metrics and per-report vectors over the chosen gold set (the held-out set, every
report with gold, or an uploaded gold file, docs/gold-files.md, whose reports are
imported first), then computes the method's statistics once
(analytics.evaluation.compare_modes) and stores both on the EvaluationRun, so the
dashboard is a read of stored JSON. Enqueueing is the caller's, as for every job:
tasks build on services, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from analytics import selectors
from analytics.evaluation import ResultsError, compare_modes, normalize_results, ordered_modes
from analytics.models import EvaluationRun
from annotations.models import Modality, Report
from annotations.services.importing import import_upload_save, reports_import
from inference.ml.gold import GoldFileError, gold_file_records
from inference.services.evaluation import EvalItem, evaluate_modes, mode_labels
from inference.services.questions import question_help_record
from inference.services.stage1 import heldout_report_ids
from jobs.models import Job
from jobs.services import job_create, job_log, job_progress


def evaluation_start(
    *,
    user: Any,
    modality: Modality,
    gold_set: str,
    modes: Sequence[str],
    gold_file: UploadedFile | None = None,
) -> EvaluationRun:
    """Create the run and its job (the caller enqueues the job). Never evaluates
    here; an uploaded gold file is only saved (streamed to UPLOAD_DIR)."""
    known = available_modes()
    unknown = [m for m in modes if m not in known]
    if unknown or not modes:
        raise ValueError(f"choose at least one of {', '.join(known)}")
    if gold_set not in EvaluationRun.GoldSet.values:
        raise ValueError(f"unknown gold set {gold_set!r}")
    if (gold_set == EvaluationRun.GoldSet.FILE) != (gold_file is not None):
        raise ValueError("upload a gold file (JSONL) exactly when the gold set is a file")
    params: dict[str, Any] = {}
    title_set = gold_set
    if gold_file is not None:
        name = Path(gold_file.name or "gold.jsonl").name[:150]
        params["gold_file"] = {"path": str(import_upload_save(upload=gold_file)), "name": name}
        title_set = name
    with transaction.atomic():
        job = job_create(
            kind=Job.Kind.EVALUATE,
            title=f"Evaluate {', '.join(known[m] for m in modes)} on {modality.name} ({title_set})",
            params={"modality": modality.code, "gold_set": gold_set, "modes": list(modes), **params},
            user=user,
        )
        run = EvaluationRun.objects.create(
            modality=modality, gold_set=gold_set, modes=list(modes), params=params, job=job, created_by=user
        )
    return run


def gold_file_documents(*, run: EvaluationRun) -> dict[int, dict[str, Any]]:
    """Import the reports of the run's gold file (once: later runs skip them) and
    return report id -> the line's "gold", for the lines of the run's modality."""
    info = run.params["gold_file"]
    path = Path(info["path"])
    if not path.is_file():
        raise ResultsError(f"the uploaded gold file {info['name']} is gone; upload it again")
    try:
        records = gold_file_records(path)
    except GoldFileError as exc:  # names the line, never its text
        raise ResultsError(f"gold file {exc}") from None
    mine = {str(r["id"]): r["gold"] for r in records if r["modality"] == run.modality.code}
    if not mine:
        raise ResultsError(f"{info['name']} has no {run.modality.name} lines")
    source = f"gold:{info['name']}"
    result = reports_import(path=path, fmt="jsonl", source=source, on_duplicate="skip")
    if not result.ok:
        # Problems name lines and fields, never report text (annotations.importing.problems).
        first = "; ".join(str(p) for p in result.problems[:3])
        raise ResultsError(f"import of {info['name']} failed: {result.summary()}: {first}")
    reports = (
        Report.objects.current()
        .filter(source=source, external_id__in=list(mine))
        .values_list("pk", "external_id")
    )
    return {pk: mine[external_id] for pk, external_id in reports}


def gold_report_ids(*, modality: Modality, gold_set: str) -> list[int]:
    """The reports of the chosen gold set, in id order."""
    if gold_set == EvaluationRun.GoldSet.HELDOUT:
        return sorted(heldout_report_ids(modality))
    candidates = Report.objects.filter(modality=modality).values_list("id", flat=True)
    return sorted(selectors.gold_assignment_ids(report_ids=candidates))


def evaluation_execute(job: Job) -> dict[str, Any]:
    """The job's work: evaluate, compare, store. Re-running overwrites the same run."""
    run = EvaluationRun.objects.select_related("modality").get(job=job)
    if run.gold_set == EvaluationRun.GoldSet.FILE:
        gold = gold_file_documents(run=run)
        report_ids = sorted(gold)
    else:
        report_ids = gold_report_ids(modality=run.modality, gold_set=run.gold_set)
        gold = selectors.gold_documents(report_ids=report_ids)
        report_ids = [r for r in report_ids if r in gold]
    if not report_ids:
        raise ResultsError(f"the {run.get_gold_set_display().lower()} of {run.modality.name} has no reports")
    job_log(job_id=job.pk, line=f"evaluating {len(run.modes)} methods on {len(report_ids)} gold reports")
    total = len(report_ids) * len(run.modes)
    job_progress(job_id=job.pk, done=0, total=total, message="starting")

    def progress(mode: str, done: int, of: int) -> None:
        # Modes run one after another over the same reports: overall progress is
        # the finished modes plus this one's share. Raises JobCancelled.
        offset = run.modes.index(mode) * len(report_ids) if mode in run.modes else 0
        job_progress(
            job_id=job.pk, done=min(offset + done, total), total=total, message=f"{mode}: {done}/{of}"
        )

    raw = run_evaluate_modes(
        modality=run.modality,
        report_ids=report_ids,
        gold=gold,
        modes=run.modes,
        params=run.params.get("options", {}),
        progress=progress,
    )
    negated = [selectors.has_negated_finding(gold[r]) for r in raw.get("report_ids", report_ids)]
    results = normalize_results(
        {"report_ids": report_ids, "modality": run.modality.code, "negated": negated, **raw}
    )
    comparisons = compare_modes(results)
    run.results = results
    run.comparisons = comparisons
    run.report_count = len(results["report_ids"])
    run.finished_at = timezone.now()
    run.save(update_fields=["results", "comparisons", "report_count", "finished_at"])
    if run.gold_set != EvaluationRun.GoldSet.FILE:
        # The site's verified data: what the LLM's questions were worth here decides which
        # are asked (unless an admin chose); an uploaded file only reports it.
        for entry in results["modes"].values():
            if entry.get("questions"):
                changed = question_help_record(
                    help=entry["questions"], gold=run.gold_set, reports=run.report_count
                )
                if changed:
                    job_log(job_id=job.pk, line=f"LLM question types now set by measurement: {changed}")
    summary = {
        mode: (entry.get("entity") or {}).get("report", {}).get("f1")
        for mode, entry in results["modes"].items()
    }
    return {"evaluation_run": run.pk, "reports": run.report_count, "report_f1": summary}


def run_evaluate_modes(
    *,
    modality: Modality,
    report_ids: list[int],
    gold: dict[int, dict[str, Any]],
    modes: list[str],
    params: dict[str, Any],
    progress: Callable[[str, int, int], None],
) -> dict[str, Any]:
    """Call the evaluation registry (kept behind one function so tests can replace it)."""
    reports = Report.objects.select_related("modality").in_bulk(report_ids)
    items = [EvalItem(reports[r], gold[r]) for r in report_ids]
    return evaluate_modes(items=items, modes=modes, options=dict(params), progress=progress)


def available_modes() -> dict[str, str]:
    """mode -> label of every registered evaluation mode, in display order."""
    labels = mode_labels()
    return {name: labels[name] for name in ordered_modes(labels)}
