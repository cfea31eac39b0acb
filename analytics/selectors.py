"""Reads for the analytics pages: stored evaluation runs, the model comparison on
the held-out gold set, and the per-patient episode series of brain MRI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from analytics import stats
from analytics.longitudinal import ReportEpisodes
from analytics.models import EvaluationRun
from annotations.models import EntityKey, EntityType, Relation, Report
from annotations.selectors import NEGATED, gold_assignment_ids, key_statuses
from inference.ml.metrics import entity_key_metrics, report_scores
from inference.models import ModelVersion, Stage1Prediction
from inference.selectors import stage2_current_predictions
from inference.services.stage1 import gold_key_sets, heldout_report_ids
from review.labels import verified_episodes

# A finding is positive when present or uncertain; negated is a gold negative.
POSITIVE_STATUSES = ("present", "uncertain")
BRAIN_MRI = "brain_mri"


def evaluation_runs() -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.select_related("modality", "job", "created_by").defer(
        "results", "comparisons"
    )


def evaluation_run(pk: int) -> EvaluationRun:
    return EvaluationRun.objects.select_related("modality", "job", "created_by").get(pk=pk)


# -- model comparison ----------------------------------------------------------------


def gold_documents(*, report_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """report id -> its gold version as a gold file's "gold" object (docs/gold-files.md),
    for the reports that have gold. A key's status is its strongest
    mention's (annotations.selectors.key_statuses); its locations (episode) are
    the keys it is paired with, in pairing order; negated findings have none."""
    gold = gold_assignment_ids(report_ids=report_ids)
    statuses = key_statuses(assignment_ids=gold.values())
    keys = {
        pk: (name, role, pairs_with, code)
        for pk, name, role, pairs_with, code in EntityKey.objects.values_list(
            "id", "name", "entity_type__role", "pairs_with_id", "entity_type__modality__code"
        )
    }
    targets: dict[tuple[int, int], list[str]] = {}
    for assignment_id, source, target in (
        Relation.objects.filter(assignment_id__in=list(gold.values()))
        .order_by("id")
        .values_list("assignment_id", "source_key_id", "target_key_id")
    ):
        names = targets.setdefault((assignment_id, source), [])
        if keys[target][0] not in names:
            names.append(keys[target][0])
    modality_of = dict(Report.objects.filter(pk__in=list(gold)).values_list("id", "modality__code"))
    out: dict[int, dict[str, Any]] = {}
    for report_id, assignment_id in gold.items():
        found = statuses[assignment_id]
        findings = {k: s for k, s in found.items() if keys[k][1] == EntityType.Role.FINDING}
        if modality_of[report_id] == BRAIN_MRI:
            diagnoses: dict[str, Any] = {}
            for key_id, status in findings.items():
                entry: dict[str, Any] = {"status": status}
                if keys[key_id][2] is not None:  # a malignant diagnosis: paired with an episode
                    episodes = targets.get((assignment_id, key_id), []) if status != NEGATED else []
                    entry["episode"] = episodes[0] if episodes else None
                diagnoses[keys[key_id][0]] = entry
            details = [
                keys[k][0]
                for k, s in found.items()
                if keys[k][1] == EntityType.Role.DETAIL and s == "present"
            ]
            out[report_id] = {"diagnoses": diagnoses, "non_tumor": details}
        else:
            out[report_id] = {
                "lesions": {
                    keys[k][0]: {
                        "status": s,
                        "locations": targets.get((assignment_id, k), []) if s != NEGATED else [],
                    }
                    for k, s in findings.items()
                }
            }
    return out


def has_negated_finding(gold: dict[str, Any]) -> bool:
    """The method's negation breakdown: a report with at least one negated finding."""
    entries = gold.get("lesions") or gold.get("diagnoses") or {}
    return any(e.get("status") == NEGATED for e in entries.values())


def model_comparison(*, candidate: ModelVersion, baseline: ModelVersion | None) -> dict[str, Any]:
    """Per-key P/R/F1 of both versions and their deltas, McNemar's test on report
    correctness and the paired bootstrap CI of per-report F1 differences, over the
    held-out gold reports both versions have predictions for."""
    out: dict[str, Any] = {"candidate": candidate, "baseline": baseline, "available": False, "reason": ""}
    report_ids = heldout_report_ids(candidate.modality)
    if not report_ids:
        out["reason"] = "The held-out gold set of this modality is empty: add gold annotations first."
        return out
    gold = gold_key_sets(report_ids)  # the labels stage 1 trains on
    versions = [candidate] + ([baseline] if baseline else [])
    preds = {v.pk: _predictions(v, report_ids) for v in versions}
    common = [r for r in report_ids if r in gold and all(r in preds[v.pk] for v in versions)]
    out["n_heldout"] = len(report_ids)
    out["n_compared"] = len(common)
    if not common:
        out["reason"] = "Neither version has stored predictions on the held-out gold reports yet."
        return out
    keys = list(dict.fromkeys([*candidate.keys, *(baseline.keys if baseline else [])]))
    gold_sets = [gold[r] for r in common]
    metrics = {v.pk: entity_key_metrics(gold_sets, [preds[v.pk][r] for r in common], keys) for v in versions}
    cand = metrics[candidate.pk]
    base = metrics[baseline.pk] if baseline else None
    rows = []
    for key in keys:
        c = cand.per_key[key]
        b = base.per_key[key] if base else None
        row: dict[str, Any] = {"key": key, "support": c.support, "candidate": c.to_dict()}
        row["baseline"] = b.to_dict() if b else None
        for metric in ("precision", "recall", "f1"):
            cv, bv = getattr(c, metric), getattr(b, metric) if b else None
            row[f"delta_{metric}"] = cv - bv if cv is not None and bv is not None else None
        rows.append(row)
    out.update(
        available=True, rows=rows, candidate_report=cand.report, baseline_report=base.report if base else None
    )
    out["candidate_macro"], out["baseline_macro"] = cand.macro, base.macro if base else None
    if baseline:
        sc = report_scores(gold_sets, [preds[candidate.pk][r] for r in common])
        sb = report_scores(gold_sets, [preds[baseline.pk][r] for r in common])
        out["mcnemar"] = stats.mcnemar([s.correct for s in sc], [s.correct for s in sb])
        out["bootstrap"] = stats.bootstrap_diff_ci(
            stats.report_f1_values([s.f1 for s in sc]), stats.report_f1_values([s.f1 for s in sb])
        )
    return out


def _predictions(version: ModelVersion, report_ids: Sequence[int]) -> dict[int, set[str]]:
    rows = Stage1Prediction.objects.filter(model_version=version, report_id__in=list(report_ids))
    return {report_id: set(keys) for report_id, keys in rows.values_list("report_id", "predicted_keys")}


# -- longitudinal ----------------------------------------------------------------------


def malignant_keys() -> list[str]:
    """Brain MRI diagnosis keys that pair with an episode (glioma, lymphoma, metastasis)."""
    return list(
        EntityKey.objects.filter(
            entity_type__modality__code=BRAIN_MRI, pairs_with__isnull=False, is_active=True
        )
        .order_by("order", "name")
        .values_list("name", flat=True)
    )


def predicted_episodes(
    report_ids: Sequence[int], malignant: Sequence[str]
) -> dict[int, dict[str, str | None]]:
    """report id -> {diagnosis: episode} from the stage 2 prediction that stands for
    each report (inference.selectors: the pipeline's latest valid one; never the
    rules baseline's nor an evaluation run's)."""
    current = stage2_current_predictions(report_ids=report_ids)
    wanted = set(malignant)
    out: dict[int, dict[str, str | None]] = {}
    for report_id, prediction in current.items():
        findings = prediction.findings or []
        out[report_id] = {
            f["key"]: f.get("episode") or None
            for f in findings
            if isinstance(f, dict)
            and f.get("key") in wanted
            and f.get("status", "present") in POSITIVE_STATUSES
        }
    return out


def brain_mri_series(*, patient_ids: Sequence[str] | None = None) -> dict[str, list[ReportEpisodes]]:
    """patient id -> that patient's brain MRI reports with their malignant diagnoses'
    episodes: verified where a clinician verified the report, predicted otherwise.
    Reports with neither are listed with no episodes."""
    reports = Report.objects.filter(modality__code=BRAIN_MRI)
    if patient_ids is not None:
        reports = reports.filter(patient_id__in=list(patient_ids))
    rows = list(
        reports.order_by("patient_id", "study_datetime", "id").values_list(
            "id", "patient_id", "study_datetime"
        )
    )
    ids = [r[0] for r in rows]
    malignant = malignant_keys()
    verified = verified_episodes(ids)
    predicted = predicted_episodes(ids, malignant)
    out: dict[str, list[ReportEpisodes]] = {}
    for report_id, patient_id, when in rows:
        if report_id in verified:
            episodes = {d: e for d, e in verified[report_id].items() if d in malignant}
            item = ReportEpisodes(report_id, when, episodes, source="verified")
        elif report_id in predicted:
            item = ReportEpisodes(report_id, when, predicted[report_id], source="predicted")
        else:
            item = ReportEpisodes(report_id, when, {}, source="none")
        out.setdefault(patient_id, []).append(item)
    return out
