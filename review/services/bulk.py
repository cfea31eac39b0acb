"""Decisions on a selection of findings at once (the review screen's `x` selection).

Bulk reject applies one reason to every selected finding. Bulk approve never
approves what needs a second look: a flagged pending finding, or one without
evidence in the report, is skipped and named in the result, so the clinician
decides it on its own card (review.flags). A stale version or another
clinician's lease refuses the whole batch (ReviewConflict, nothing saved), as a
single decision would be refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from review.flags import approval_warnings, needs_evidence
from review.models import ReviewDecision, ReviewFinding
from review.services.decisions import finding_decide

Action = ReviewDecision.Action
SKIP_FLAGGED = "flagged"
SKIP_NO_EVIDENCE = "no evidence in the report"
SKIP_DECIDED = "already decided that way"


@dataclass
class BulkResult:
    action: str
    done: list[str] = field(default_factory=list)  # keys decided
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)

    @property
    def message(self) -> str:
        verb = "Approved" if self.action == Action.APPROVE else "Rejected"
        text = f"{verb} {len(self.done)} finding{'s' if len(self.done) != 1 else ''}."
        if self.skipped:
            why: dict[str, list[str]] = {}
            for key, reason in self.skipped:
                why.setdefault(reason, []).append(key)
            parts = [f"{len(keys)} {reason} ({', '.join(keys)})" for reason, keys in why.items()]
            text += f" Skipped {len(self.skipped)}: " + "; ".join(parts) + ". Decide them one by one."
        return text


def _skip_reason(finding: ReviewFinding, action: str) -> str:
    if action == Action.APPROVE:
        if finding.status in (ReviewFinding.Status.APPROVED, ReviewFinding.Status.ADDED):
            return SKIP_DECIDED
        if approval_warnings(finding):
            return SKIP_FLAGGED
        if needs_evidence(finding):
            return SKIP_NO_EVIDENCE
    elif finding.status == ReviewFinding.Status.REJECTED:
        return SKIP_DECIDED
    return ""


@transaction.atomic
def findings_bulk_decide(
    *,
    review_id: int,
    user: Any,
    action: str,
    versions: dict[int, int],
    reason_code: str = "",
    comment: str = "",
) -> BulkResult:
    """Approve or reject the findings `versions` names (finding id -> the version
    the clinician saw) on one report; returns what was done and what was skipped."""
    if action not in (Action.APPROVE, Action.REJECT):
        raise ValidationError("Bulk decisions approve or reject.")
    if not versions:
        raise ValidationError("Select findings first (x, or their checkboxes).")
    findings = list(
        ReviewFinding.objects.filter(review_id=review_id, pk__in=list(versions), superseded=False).order_by(
            "id"
        )
    )
    if len(findings) != len(versions):
        raise ValidationError("Some selected findings are no longer on this report; reload it.")
    result = BulkResult(action=action)
    for finding in findings:
        why = _skip_reason(finding, action)
        if why:
            result.skipped.append((finding.key, why))
            continue
        finding_decide(
            finding_id=finding.pk,
            user=user,
            action=action,
            version=versions[finding.pk],
            reason_code=reason_code,
            comment=comment,
        )
        result.done.append(finding.key)
    return result
