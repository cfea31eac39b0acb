"""The order in which annotators meet their open assignments: random, by study
date, or most uncertain first (active learning).

The order is stored as Assignment.rank (lowest first), computed when an admin
assigns reports or re-orders a queue, so a random order stays put between page
views.

Uncertainty comes from a provider: a function that takes report ids and returns
{report id: score}, higher meaning more uncertain, or {} when no stage-1 model
is active. The default provider has no model and returns {}; the stage-1
integration registers the real one at start-up, with the names of the active
models the admin screens show (annotations must not import inference, which
builds on it):

    from annotations.services.queue_order import register_uncertainty_provider
    register_uncertainty_provider(my_provider, active_models=my_names)   # InferenceConfig.ready()

A good score for a multi-label classifier is the largest closeness of a key's
probability to 0.5 (1 - |2p - 1|), or the summed entropy over keys.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Assignment, Modality, Report
from radreview.conflict import CONFLICT

RANDOM, NEWEST, OLDEST, UNCERTAINTY = "random", "newest", "oldest", "uncertainty"
ORDERS = {
    RANDOM: "Random",
    NEWEST: "By study date, newest first",
    OLDEST: "By study date, oldest first",
    UNCERTAINTY: "Most uncertain first (active learning)",
}

UncertaintyProvider = Callable[[Sequence[int]], dict[int, float]]
# () -> {modality name: name of its active stage-1 model}, for the modalities that have one.
ActiveModels = Callable[[], dict[str, str]]


def _no_model(report_ids: Sequence[int]) -> dict[int, float]:
    return {}


def _no_models() -> dict[str, str]:
    return {}


_provider: UncertaintyProvider = _no_model
_active_models: ActiveModels = _no_models


def register_uncertainty_provider(
    provider: UncertaintyProvider | None, *, active_models: ActiveModels | None = None
) -> None:
    """Install the function that scores reports and the one that names the active
    models (None restores the no-model defaults)."""
    global _provider, _active_models
    _provider = provider or _no_model
    _active_models = active_models or _no_models


def uncertainty_provider(report_ids: Sequence[int]) -> dict[int, float]:
    return _provider(report_ids)


@dataclass(frozen=True)
class UncertaintyStatus:
    """What "most uncertain first" can use now, for the admin screens to explain."""

    provider_registered: bool  # the stage-1 integration has plugged in its scorer
    active_models: dict[str, str | None]  # modality name -> its active stage-1 model (None: none)

    @property
    def available(self) -> bool:
        return self.provider_registered and any(self.active_models.values())


def uncertainty_status() -> UncertaintyStatus:
    """Which modalities have an active stage-1 model, as the registered integration
    names them."""
    active: dict[str, str | None] = dict.fromkeys(
        Modality.objects.order_by("name").values_list("name", flat=True)
    )
    active.update(_active_models())
    return UncertaintyStatus(provider_registered=_provider is not _no_model, active_models=active)


def queue_ranks(*, report_ids: Sequence[int], order: str, seed: int | None = None) -> dict[int, float]:
    """report id -> rank (lower comes first). Raises ValidationError for an unknown
    order, or for "uncertainty" when no stage-1 model can score the reports."""
    if order not in ORDERS:
        raise ValidationError(f"Unknown queue order {order!r}.")
    ids = list(report_ids)
    if order == RANDOM:
        rng = random.Random(seed)  # noqa: S311 - an ordering, not a secret
        return {report_id: rng.random() for report_id in ids}
    if order in (NEWEST, OLDEST):
        dates = dict(Report.objects.filter(pk__in=ids).values_list("id", "study_datetime"))
        dated = sorted((r for r in ids if dates.get(r)), key=lambda r: (dates[r], r), reverse=order == NEWEST)
        ordered = dated + sorted(r for r in ids if not dates.get(r))  # undated reports last
        return {report_id: float(i) for i, report_id in enumerate(ordered)}
    scores = uncertainty_provider(ids) if ids else {}
    if ids and not scores:
        raise ValidationError(_why_unscored(ids), code=CONFLICT)
    unscored = max(scores.values(), default=0.0)
    # Most uncertain first; reports the model did not score go last.
    return {report_id: -scores[report_id] if report_id in scores else unscored + 1.0 for report_id in ids}


def _why_unscored(report_ids: Sequence[int]) -> str:
    """The refusal message: no model at all, or a model that has not scored these reports."""
    status = uncertainty_status()
    names = Report.objects.filter(pk__in=report_ids).values_list("modality__name", flat=True).distinct()
    if status.provider_registered and any(status.active_models.get(name) for name in names):
        return (
            "The active stage-1 model has no stored predictions for these reports yet: run stage-1 "
            "inference on them (Models), or choose random or by study date."
        )
    return (
        "Most uncertain first needs an active stage-1 model for these reports' modality, and none "
        "could score them: train and activate one (Models), or choose random or by study date."
    )


@dataclass(frozen=True)
class ReorderResult:
    updated: int
    order: str


@transaction.atomic
def queue_reorder(
    *, order: str, modality_id: int | None = None, annotator_id: int | None = None, seed: int | None = None
) -> ReorderResult:
    """Re-rank the open (to do / in progress) annotation assignments in scope."""
    open_rows = Assignment.objects.select_for_update().filter(
        kind=Assignment.Kind.ANNOTATION, status__in=[Assignment.Status.TODO, Assignment.Status.IN_PROGRESS]
    )
    if modality_id is not None:
        open_rows = open_rows.filter(report__modality_id=modality_id)
    if annotator_id is not None:
        open_rows = open_rows.filter(annotator_id=annotator_id)
    rows = list(open_rows.only("id", "report_id"))
    ranks = queue_ranks(report_ids=sorted({a.report_id for a in rows}), order=order, seed=seed)
    for assignment in rows:
        assignment.rank = ranks[assignment.report_id]
    Assignment.objects.bulk_update(rows, ["rank"], batch_size=1000)
    return ReorderResult(updated=len(rows), order=order)
