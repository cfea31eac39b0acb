"""What apps built on inference plug into it, so that inference never imports them.

Review depends on inference, not the reverse: review registers, in its
AppConfig.ready(), what inference calls when it stores stage 2 predictions and
where stage 1 training reads the labels clinicians approved.

    on_stage2_stored(sync_report_findings)                 # review.apps
    approved_labels_register(ApprovedLabelSource(...))     # review.apps

    stage2_stored(report)                                  # each pipeline prediction stored
    stage2_stored_many(reports)                            # a batch's group of them
    approved_labels_source()                               # stage 1 training data ("approved")

Registering the same callback twice keeps one, so a second ready() (tests that
reload apps) does not sync a report twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from annotations.models import Modality, Report

Stage2Stored = Callable[[Report], object]
Stage2StoredMany = Callable[[list[Report]], object]

_stage2_stored: list[Stage2Stored] = []
_stage2_stored_many: dict[Stage2Stored, Stage2StoredMany] = {}


def on_stage2_stored(callback: Stage2Stored, *, many: Stage2StoredMany | None = None) -> None:
    """Call `callback(report)` each time a pipeline prediction of the report is stored
    (a stage 2 batch or a single-report request; evaluation runs do not call it).
    `many(reports)`, when given, is what a batch calls for a group of stored reports
    instead of `callback` once per report (review: one batched sync)."""
    if callback not in _stage2_stored:
        _stage2_stored.append(callback)
    if many is not None:
        _stage2_stored_many[callback] = many


def stage2_stored(report: Report) -> None:
    for callback in list(_stage2_stored):
        callback(report)


def stage2_stored_many(reports: list[Report]) -> None:
    """A batch stored these reports' pipeline predictions."""
    if not reports:
        return
    for callback in list(_stage2_stored):
        many = _stage2_stored_many.get(callback)
        if many is not None:
            many(list(reports))
        else:
            for report in reports:
                callback(report)


class KeyLabels(Protocol):
    def __call__(self, *, modality: Modality) -> dict[int, set[str]]: ...


class LabelProvenance(Protocol):
    def __call__(self, *, modality: Modality) -> dict[int, dict[str, object]]: ...


@dataclass(frozen=True, slots=True)
class ApprovedLabelSource:
    """Clinician-approved labels for stage 1 training: report id -> key names present
    (`key_labels`), and who approved each report and when (`provenance`)."""

    key_labels: KeyLabels
    provenance: LabelProvenance


_approved: list[ApprovedLabelSource] = []


def approved_labels_register(source: ApprovedLabelSource) -> None:
    """Make `source` the approved-label source (one at a time: a later one replaces it)."""
    _approved[:] = [source]


def approved_labels_source() -> ApprovedLabelSource | None:
    """The registered source, or None when no app provides approved labels."""
    return _approved[0] if _approved else None
