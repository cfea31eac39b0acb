"""What clinicians verified, as labels for other parts of the system.

* `approved_key_labels` feeds stage 1 training ("gold + approved"): for every
  report a clinician verified, the key names the clinician confirmed present
  (approved, edited or added findings, with their locations, episode and
  details); keys of rejected findings are absent.
* `verified_episodes` feeds the longitudinal view: per report, the episode the
  clinician confirmed for each malignant diagnosis.

A report counts once it has been verified (every finding decided). If a later
inference run adds a new suggestion, the decided findings still stand and are
returned; the undecided suggestion is not (it is not a clinician's word).
"""

from __future__ import annotations

from collections.abc import Iterable

from annotations.models import Modality
from review.models import ReviewFinding

POSITIVE_DECISIONS = (
    ReviewFinding.Status.APPROVED,
    ReviewFinding.Status.EDITED,
    ReviewFinding.Status.ADDED,
)


def _modality_id(modality: Modality | str | int) -> int:
    if isinstance(modality, Modality):
        return modality.pk
    if isinstance(modality, int):
        return modality
    return Modality.objects.only("id").get(code=modality).pk


def approved_key_labels(*, modality: Modality | str | int) -> dict[int, set[str]]:
    """report id -> key names present according to the clinician (empty set: the
    clinician rejected everything, i.e. a verified negative report)."""
    rows = ReviewFinding.objects.filter(
        review__report__modality_id=_modality_id(modality),
        review__verified_at__isnull=False,
        superseded=False,
    ).values_list("report_id", "status", "key", "locations", "episode", "details")
    labels: dict[int, set[str]] = {}
    for report_id, status, key, locations, episode, details in rows:
        keys = labels.setdefault(report_id, set())
        if status in POSITIVE_DECISIONS:
            keys.add(key)
            keys.update(locations or [])
            keys.update(details or [])
            if episode:
                keys.add(episode)
    return labels


def approved_label_provenance(*, modality: Modality | str | int) -> dict[int, dict[str, object]]:
    """report id -> who verified it and when, for a training data snapshot."""
    rows = ReviewFinding.objects.filter(
        review__report__modality_id=_modality_id(modality), review__verified_at__isnull=False
    ).values_list("report_id", "review__verified_by__username", "review__verified_at")
    # `when` is never None (filtered above); the column type cannot say so.
    return {
        rid: {"verified_by": who, "verified_at": when.isoformat() if when else None}
        for rid, who, when in rows
    }


def verified_episodes(report_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """report id -> {diagnosis key: episode} for verified reports (reports without
    a confirmed episode are absent)."""
    ids = list(report_ids)
    out: dict[int, dict[str, str]] = {}
    if not ids:
        return out
    rows = (
        ReviewFinding.objects.filter(
            report_id__in=ids,
            review__verified_at__isnull=False,
            superseded=False,
            status__in=POSITIVE_DECISIONS,
        )
        .exclude(episode="")
        .values_list("report_id", "key", "episode")
    )
    for report_id, key, episode in rows:
        out.setdefault(report_id, {})[key] = episode
    return out
