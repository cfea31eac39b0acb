"""The stage 1 model registry: governed promotion and roll-back, comparison of two
versions on the same held-out reports, and the active-learning uncertainty score.

Rules. Only a ready (trained and evaluated) version can be promoted; exactly one
version per modality is active (a database constraint); every promotion and
roll-back needs a reason and is recorded in ModelPromotion with who and which
version was active before. Promoting a version that is worse than the active one on
held-out gold (lower macro F1) needs an explicit confirmation, and the record says
so (overrode_warning, with the numbers shown). Roll-back re-activates the version that was active
before the current one (as recorded by the current one's latest promotion);
rolling back twice toggles back. Retiring takes a version out of service for good
(never active again; its predictions stay, since a version that predicted is never
deleted) and is recorded the same way. Nothing here loads a model: cheap enough
for a web request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from annotations.models import Modality
from inference.models import ModelPromotion, ModelVersion, Stage1Prediction
from inference.selectors import model_versions_active
from inference.services.stage1_data import gold_key_sets, heldout_report_ids, modality_get


class PromotionError(ValueError):
    """A promotion or roll-back that the rules refuse; the message says why."""


@dataclass(frozen=True)
class PromotionWarning:
    """Why promoting `candidate` over the active `baseline` needs a second, explicit
    step: it is worse on held-out gold (lower macro F1). On the reports both versions
    predicted when there are any (paired, with McNemar's p), else on each version's
    own stored held-out evaluation."""

    candidate: str
    baseline: str
    candidate_macro_f1: float
    baseline_macro_f1: float
    n_reports: int
    paired: bool  # True: the same held-out reports; False: each version's stored evaluation
    p_value: float | None  # McNemar, exact, on report-level correctness (paired only)

    @property
    def delta(self) -> float:
        return self.candidate_macro_f1 - self.baseline_macro_f1

    @property
    def message(self) -> str:
        where = (
            f"on the {self.n_reports} held-out reports both predicted"
            if self.paired
            else "on their stored held-out evaluations"
        )
        p = f", McNemar p = {self.p_value:.3f}" if self.p_value is not None else ""
        return (
            f"{self.candidate} is worse than the active {self.baseline} {where}: macro F1 "
            f"{100 * self.candidate_macro_f1:.1f} vs {100 * self.baseline_macro_f1:.1f}{p}. "
            "Confirm to promote it anyway."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "metric": "macro_f1",
            "candidate_macro_f1": self.candidate_macro_f1,
            "baseline_macro_f1": self.baseline_macro_f1,
            "delta": self.delta,
            "n_reports": self.n_reports,
            "paired": self.paired,
            "mcnemar_p": self.p_value,
        }


class PromotionNeedsConfirmation(PromotionError):
    """The candidate is worse than the active version: promote with confirm_worse=True."""

    def __init__(self, warning: PromotionWarning) -> None:
        super().__init__(warning.message)
        self.warning = warning


def promotion_warning(
    candidate: ModelVersion, baseline: ModelVersion | None, *, comparison: dict[str, Any] | None = None
) -> PromotionWarning | None:
    """A PromotionWarning when `candidate` has a lower held-out macro F1 than `baseline`
    (the active version), else None (no active version, or a number is missing).
    `comparison`: versions_compare(candidate, baseline) when the caller has it."""
    if baseline is None or baseline.pk == candidate.pk:
        return None
    if comparison is None:
        comparison = versions_compare(candidate, baseline)
    macro = (comparison.get("macro") or {}).get("f1") or {}
    paired_cand, paired_base = macro.get("candidate"), macro.get("baseline")
    if comparison.get("n_common") and paired_cand is not None and paired_base is not None:
        cand, base = float(paired_cand), float(paired_base)
        n, paired = int(comparison["n_common"]), True
        p_value = (comparison.get("mcnemar") or {}).get("p_value")
    else:
        cand_f1, base_f1 = _stored_macro_f1(candidate), _stored_macro_f1(baseline)
        if cand_f1 is None or base_f1 is None:
            return None
        cand, base = cand_f1, base_f1
        n, paired, p_value = int((candidate.metrics or {}).get("n_heldout") or 0), False, None
    if cand >= base:
        return None
    return PromotionWarning(candidate.name, baseline.name, cand, base, n, paired, p_value)


def _stored_macro_f1(version: ModelVersion) -> float | None:
    value = (((version.metrics or {}).get("heldout") or {}).get("macro") or {}).get("f1")
    return None if value is None else float(value)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise PromotionError("A reason is required: say why this version should be the active one.")
    return reason


def model_promote(
    *, version: ModelVersion, user: Any, reason: str, confirm_worse: bool = False
) -> ModelPromotion:
    """Make `version` the active one of its modality. A version worse than the active
    one on held-out gold (promotion_warning) raises PromotionNeedsConfirmation unless
    `confirm_worse`; promoted anyway, the record says the warning was overridden."""
    reason = _reason(reason)
    with transaction.atomic():
        rows = list(ModelVersion.objects.select_for_update().filter(modality_id=version.modality_id))
        target = next(v for v in rows if v.pk == version.pk)
        if target.status != ModelVersion.Status.READY:
            raise PromotionError(
                f"{target.name} cannot be promoted: it is {target.get_status_display().lower()}, not ready"
            )
        if target.is_active:
            raise PromotionError(f"{target.name} is already the active version")
        previous = next((v for v in rows if v.is_active), None)
        warning = promotion_warning(target, previous)
        if warning is not None and not confirm_worse:
            raise PromotionNeedsConfirmation(warning)
        return _switch(
            target=target,
            previous=previous,
            action=ModelPromotion.Action.PROMOTE,
            user=user,
            reason=reason,
            warning=warning,
        )


def model_rollback(*, modality: Modality | str, user: Any, reason: str) -> ModelPromotion:
    reason = _reason(reason)
    modality = modality_get(modality)
    with transaction.atomic():
        rows = {v.pk: v for v in ModelVersion.objects.select_for_update().filter(modality=modality)}
        current = next((v for v in rows.values() if v.is_active), None)
        if current is None:
            raise PromotionError(f"{modality.name} has no active version to roll back")
        last = (
            ModelPromotion.objects.filter(modality=modality, model_version=current)
            .order_by("-created_at", "-pk")
            .first()
        )
        if last is None or last.previous_id is None:
            raise PromotionError(
                f"{current.name} was the first active version: there is nothing to roll back to"
            )
        target = rows[last.previous_id]
        if target.status != ModelVersion.Status.READY:
            raise PromotionError(
                f"{target.name} is {target.get_status_display().lower()}; it cannot be re-activated"
            )
        return _switch(
            target=target, previous=current, action=ModelPromotion.Action.ROLLBACK, user=user, reason=reason
        )


def model_version_retire(*, version: ModelVersion, user: Any, reason: str) -> ModelPromotion:
    """Retire a version instead of deleting it: status retired (promotion and roll-back
    refuse it from then on), its predictions and history kept, the act recorded. The
    active version cannot be retired: promote another one or roll back first, so the
    modality is never left without a model by accident."""
    reason = _reason(reason)
    with transaction.atomic():
        target = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if target.is_active:
            raise PromotionError(
                f"{target.name} is the active version: promote another one or roll back before retiring it"
            )
        if target.status == ModelVersion.Status.RETIRED:
            raise PromotionError(f"{target.name} is already retired")
        if target.status == ModelVersion.Status.TRAINING:
            raise PromotionError(f"{target.name} is still training: cancel its job instead")
        target.status = ModelVersion.Status.RETIRED
        target.save(update_fields=["status"])
        version.status = target.status
        return ModelPromotion.objects.create(
            modality_id=target.modality_id,
            model_version=target,
            action=ModelPromotion.Action.RETIRE,
            reason=reason,
            user=user,
        )


def _switch(
    *,
    target: ModelVersion,
    previous: ModelVersion | None,
    action: str,
    user: Any,
    reason: str,
    warning: PromotionWarning | None = None,
) -> ModelPromotion:
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])  # before activating: the one-active constraint
    target.is_active = True
    target.save(update_fields=["is_active"])
    return ModelPromotion.objects.create(
        modality_id=target.modality_id,
        model_version=target,
        previous=previous,
        action=action,
        reason=reason,
        user=user,
        overrode_warning=warning is not None,
        warning=warning.as_dict() if warning is not None else {},
    )


def versions_compare(candidate: ModelVersion, baseline: ModelVersion) -> dict[str, Any]:
    """Both versions on the held-out reports that both predicted: per-key and
    report-level metrics with deltas (candidate - baseline), and the discordant
    report counts of McNemar's test with its exact p-value."""
    from inference.ml.metrics import entity_key_metrics, report_scores

    if candidate.modality_id != baseline.modality_id:
        raise PromotionError("versions of different modalities cannot be compared")
    ids = heldout_report_ids(candidate.modality)
    preds = {}
    for version in (candidate, baseline):
        preds[version.pk] = dict(
            Stage1Prediction.objects.filter(model_version=version, report_id__in=ids).values_list(
                "report_id", "predicted_keys"
            )
        )
    gold = gold_key_sets(ids)
    common = [i for i in ids if i in gold and i in preds[candidate.pk] and i in preds[baseline.pk]]
    out: dict[str, Any] = {"n_common": len(common), "n_heldout": len(ids)}
    if not common:
        return out
    keys = list(dict.fromkeys([*candidate.keys, *baseline.keys]))
    gold_sets = [gold[i] for i in common]
    scored = {}
    for version in (candidate, baseline):
        pred_sets = [set(preds[version.pk][i]) for i in common]
        scored[version.pk] = (
            entity_key_metrics(gold_sets, pred_sets, keys).to_dict(),
            [s.correct for s in report_scores(gold_sets, pred_sets)],
        )
    cand, cand_correct = scored[candidate.pk]
    base, base_correct = scored[baseline.pk]
    only_candidate = sum(c and not b for c, b in zip(cand_correct, base_correct, strict=True))
    only_baseline = sum(b and not c for c, b in zip(cand_correct, base_correct, strict=True))
    out["report"] = _deltas(
        cand["report"], base["report"], ("accuracy", "precision", "recall", "f1", "specificity")
    )
    out["macro"] = _deltas(cand["macro"], base["macro"], ("precision", "recall", "f1", "specificity"))
    out["per_key"] = {
        key: _deltas(cand["per_key"][key], base["per_key"][key], ("precision", "recall", "f1", "specificity"))
        | {"support": cand["per_key"][key]["support"]}
        for key in keys
    }
    out["mcnemar"] = {
        "only_candidate_correct": only_candidate,
        "only_baseline_correct": only_baseline,
        "p_value": _mcnemar_exact(only_candidate, only_baseline),
    }
    return out


def _deltas(cand: dict[str, Any], base: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        c, b = cand.get(name), base.get(name)
        out[name] = {"candidate": c, "baseline": b, "delta": None if c is None or b is None else c - b}
    return out


def _mcnemar_exact(b: int, c: int) -> float | None:
    """Two-sided exact McNemar p-value: binomial test of min(b, c) in b + c at 1/2."""
    if b + c == 0:
        return None
    from scipy.stats import binomtest

    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


# -- active learning ----------------------------------------------------------------------------


def closeness_to_threshold(probability: float, threshold: float) -> float:
    """1 at the key's threshold, 0 at certainty (0 or 1), linear in between on each side."""
    room = threshold if probability < threshold else 1.0 - threshold
    return 1.0 - abs(probability - threshold) / max(room, 1e-9)


def stage1_uncertainty(report_ids: Sequence[int]) -> dict[int, float]:
    """The annotation queue's uncertainty provider: per report, the largest
    closeness of any key's stored probability (active version of the report's
    modality) to that key's threshold. Reports without a stored prediction are
    left out (the queue puts them last); {} when no version is active."""
    active = {v.pk: v.thresholds for v in model_versions_active().only("pk", "thresholds")}
    if not active:
        return {}
    rows = Stage1Prediction.objects.filter(
        report_id__in=list(report_ids), model_version_id__in=active
    ).values_list("report_id", "model_version_id", "probabilities")
    scores = {}
    for report_id, version_id, probabilities in rows:
        thresholds = active[version_id]
        scores[report_id] = max(
            (
                closeness_to_threshold(float(p), float(thresholds.get(key, 0.5)))
                for key, p in probabilities.items()
            ),
            default=0.0,
        )
    return scores
