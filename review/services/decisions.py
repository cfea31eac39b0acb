"""Clinicians' decisions on review findings, each written to the append-only audit.

Concurrency, two layers:
* a lease: opening a report gives its reader the lease for LEASE_MINUTES
  (renewed by each decision); a second clinician who opens it is told who has
  it and their decisions are refused until the lease ends;
* optimistic locking: every decision names the finding version it was made on
  and is refused if the finding changed since (a lease that expired while a
  page stayed open, two tabs, the API).
Refusals raise ReviewConflict with a message for the person; nothing is saved.

Rules: only users holding PERM_REVIEW through a group or a direct grant decide
(superuser status alone does not: radreview.roles.has_role_perm); reject needs a reason code
("other" also needs a comment); edits are checked against the schema. Whatever makes a
finding verified (approve, edit, add) is guarded (review.flags, issue 18): a flagged pending
finding needs `confirm`, and a finding without an evidence span needs the span the
clinician selected, which becomes its evidence; so no verified finding lacks offsets.
Undo takes a finding back to undecided (an added one is withdrawn), audited like the rest. A saved
location list goes through the site's one location normalisation
(inference.ml.text.location_keys, LABELLING.md section 4), as every mode's
output does; a location just ticked in the grid is never the key it drops.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from annotations.models import EntityKey, EntityType
from annotations.selectors import site_ruleset
from radreview.roles import PERM_REVIEW, has_role_perm
from review.flags import approval_warnings, needs_evidence
from review.models import ReviewDecision, ReviewFinding, ReviewReport
from review.services.lease import LEASE_MINUTES, lease_holder
from review.services.sync import finding_kinds, review_refresh

Reason = ReviewDecision.Reason
Action = ReviewDecision.Action


class ReviewConflict(Exception):
    """Another clinician got there first, or the finding's state refuses the
    decision as asked; the message says who or what, and what to do (409 in the API)."""


class ConfirmationRequired(ReviewConflict):
    """A flagged finding was to become verified without the second step that
    acknowledges its flags (`confirm=True`)."""

    def __init__(self, key: str, warnings: list[str]) -> None:
        self.warnings = warnings
        super().__init__(
            f"“{key}” is flagged: {'; '.join(warnings)}. Check it against the report "
            "and confirm in its card to accept it anyway; nothing was saved."
        )


class EvidenceRequired(ReviewConflict):
    """A finding with no evidence span in the report was to become verified
    without a span the clinician selected."""

    def __init__(self, key: str, evidence: str) -> None:
        said = f"The quote “{evidence[:80]}” is not in the report" if evidence else "It has no evidence"
        super().__init__(
            f"{said}: select the text that shows “{key}” in the report, then approve. Nothing was saved."
        )


def _who(user: Any) -> str:
    return user.get_username() if user is not None else "another clinician"


def _check_can_review(user: Any) -> None:
    if not has_role_perm(user, PERM_REVIEW):
        raise PermissionDenied("Only clinicians verify AI findings.")


def snapshot(f: ReviewFinding) -> dict[str, Any]:
    return {
        "status": f.status,
        "kind": f.kind,
        "key": f.key,
        "locations": list(f.locations or []),
        "episode": f.episode,
        "details": list(f.details or []),
        "evidence": f.evidence,
        "evidence_span": [f.evidence_start, f.evidence_end] if f.evidence_start is not None else None,
    }


def _keys_by_role(modality_id: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    rows = EntityKey.objects.filter(entity_type__modality_id=modality_id, is_active=True).values_list(
        "name", "entity_type__role"
    )
    for name, role in rows:
        out.setdefault(role, set()).add(name)
    return out


def _clean_changes(
    review: ReviewReport, kind: str, key: str, locations: list[str], episode: str, details: list[str]
) -> None:
    roles = _keys_by_role(review.report.modality_id)
    kinds = finding_kinds(review.report.modality)
    if kinds.get(key) is None:
        raise ValidationError(f"“{key}” is not a finding of this modality.")
    if kind and kinds[key] != kind:
        raise ValidationError(
            f"“{key}” is a {kinds[key].replace('_', '-')} key, not a {kind.replace('_', '-')}."
        )
    bad = [loc for loc in locations if loc not in roles.get(EntityType.Role.LOCATION, set())]
    if bad:
        raise ValidationError(f"Unknown location: {', '.join(bad)}.")
    if episode and episode not in roles.get(EntityType.Role.EPISODE, set()):
        raise ValidationError(f"Unknown episode: {episode}.")
    bad = [d for d in details if d not in roles.get(EntityType.Role.DETAIL, set())]
    if bad:
        raise ValidationError(f"Unknown detail: {', '.join(bad)}.")


def _normalised_locations(review: ReviewReport, locations: list[str], ticked: str | None) -> list[str]:
    """The clinician's list under the site's location tree; `ticked` (a key just
    added in the grid) wins over the listed keys that would make it redundant."""
    tree = site_ruleset(modality=review.report.modality).location_tree
    if ticked:
        return tree.normalise_keeping(locations, ticked)
    return tree.normalise(locations)


def _lock(review_id: int, user: Any) -> ReviewReport:
    review = ReviewReport.objects.select_for_update().select_related("report__modality").get(pk=review_id)
    if review.report.superseded_at is not None:
        raise ReviewConflict(
            "This report was corrected and a new revision replaces it; review the new revision instead."
        )
    holder = lease_holder(review, user)
    if holder is not None:
        until = timezone.localtime(review.lease_until).strftime("%H:%M")
        raise ReviewConflict(
            f"{_who(holder)} is reviewing this report (lease until {until}). "
            "Your decision was not saved; open it again after they finish."
        )
    return review


def _finish(review: ReviewReport, user: Any) -> None:
    was_verified = review.status == ReviewReport.Status.VERIFIED
    review_refresh(review)
    now = timezone.now()
    if review.status == ReviewReport.Status.VERIFIED and not (was_verified and review.verified_at):
        review.verified_at, review.verified_by = now, user
    # A verified report is free for anyone to look at; an open one stays with its reviewer.
    verified = review.status == ReviewReport.Status.VERIFIED
    review.lease_user = None if verified else user
    review.lease_until = None if verified else now + timedelta(minutes=LEASE_MINUTES)
    review.save()


def _record(
    review: ReviewReport,
    finding: ReviewFinding | None,
    user: Any,
    action: str,
    before: dict[str, Any] | None,
    reason_code: str = "",
    comment: str = "",
    version: int = 0,
) -> ReviewDecision:
    return ReviewDecision.objects.create(
        review=review,
        finding=finding,
        report_id=review.report_id,
        user=user,
        action=action,
        before=before,
        after=snapshot(finding) if finding else None,
        reason_code=reason_code,
        comment=comment,
        finding_version=version,
        model_version_name=finding.model_version_name if finding else "",
        prompt_version=finding.prompt_version if finding else review.prompt_version,
        stage1_prediction_id_at=finding.stage1_prediction_id if finding else None,
        stage2_prediction_id_at=finding.stage2_prediction_id if finding else None,
    )


def _clean_span(text: str, start: int | None, end: int | None) -> tuple[int, int] | None:
    """The clinician's selected span, checked against the report (code points)."""
    if start is None and end is None:
        return None
    if start is None or end is None or not 0 <= start < end <= len(text):
        raise ValidationError("The selected text is outside the report; select it again.")
    if not text[start:end].strip():
        raise ValidationError("The selected text is blank; select the words that show the finding.")
    return start, end


def _check_verifiable(finding: ReviewFinding, *, confirm: bool, span: tuple[int, int] | None) -> None:
    """The two guards of a decision that makes a finding verified (review.flags)."""
    warnings = approval_warnings(finding)
    if warnings and not confirm:
        raise ConfirmationRequired(finding.key, warnings)
    if span is None and needs_evidence(finding):
        raise EvidenceRequired(finding.key, finding.evidence)


def _set_evidence(finding: ReviewFinding, text: str, span: tuple[int, int]) -> None:
    finding.evidence = text[span[0] : span[1]]
    finding.evidence_start, finding.evidence_end = span


@transaction.atomic
def finding_decide(
    *,
    finding_id: int,
    user: Any,
    action: str,
    version: int,
    reason_code: str = "",
    comment: str = "",
    key: str | None = None,
    locations: list[str] | None = None,
    episode: str | None = None,
    details: list[str] | None = None,
    ticked_location: str | None = None,
    confirm: bool = False,
    start: int | None = None,
    end: int | None = None,
) -> ReviewFinding:
    """Approve, reject or edit one finding made on `version`; returns it updated.
    An edit's locations are normalised; `ticked_location` (the grid's last click)
    is kept, the listed keys it replaces are dropped.

    Approving or editing makes a finding verified, so both are guarded: a pending
    finding with flags needs `confirm` (ConfirmationRequired otherwise), and a
    finding with no evidence span needs `start`/`end`, the span the clinician
    selected, which becomes its evidence (EvidenceRequired otherwise). A span may
    also replace the evidence of a finding that has one."""
    _check_can_review(user)
    review_id = ReviewFinding.objects.values_list("review_id", flat=True).get(pk=finding_id)
    review = _lock(review_id, user)
    finding = ReviewFinding.objects.select_for_update().get(pk=finding_id)
    if finding.superseded:
        raise ReviewConflict("A newer prediction replaced this suggestion; reload the report.")
    if finding.version != version:
        last = finding.decisions.select_related("user").order_by("-id").first()
        by = f" by {_who(last.user)}" if last else ""
        raise ReviewConflict(
            f"This finding was changed{by} after you opened it (now: {finding.get_status_display()}). "
            "Your decision was not saved; reload to see it."
        )
    comment = (comment or "").strip()
    before = snapshot(finding)
    span = _clean_span(review.report.text, start, end)
    if action in (Action.APPROVE, Action.EDIT):
        _check_verifiable(finding, confirm=confirm, span=span)
    if action == Action.APPROVE:
        accepted = finding.status in (ReviewFinding.Status.APPROVED, ReviewFinding.Status.ADDED)
        if accepted and span is None:
            raise ValidationError("This finding is already accepted.")
        if finding.status != ReviewFinding.Status.ADDED:
            finding.status = ReviewFinding.Status.APPROVED
        reason_code = ""
    elif action == Action.REJECT:
        if reason_code not in Reason.values:
            raise ValidationError("Choose a reason for rejecting this finding.")
        if reason_code == Reason.OTHER and not comment:
            raise ValidationError("Say why in a comment when the reason is “other”.")
        finding.status = ReviewFinding.Status.REJECTED
    elif action == Action.EDIT:
        new_key = finding.key if key is None else key.strip()
        new_locations = list(dict.fromkeys(finding.locations if locations is None else locations))
        new_episode = finding.episode if episode is None else episode.strip()
        new_details = list(dict.fromkeys(finding.details if details is None else details))
        _clean_changes(review, finding.kind, new_key, new_locations, new_episode, new_details)
        if locations is not None:
            new_locations = _normalised_locations(review, new_locations, ticked_location)
        if span is None and (new_key, new_locations, new_episode, new_details) == (
            finding.key,
            finding.locations,
            finding.episode,
            finding.details,
        ):
            raise ValidationError("Nothing changed; approve the finding if it is right as it is.")
        finding.key, finding.locations = new_key, new_locations
        finding.episode, finding.details = new_episode, new_details
        if finding.status != ReviewFinding.Status.ADDED:
            finding.status = ReviewFinding.Status.EDITED
    else:
        raise ValidationError(f"Unknown action “{action}”.")
    if span is not None and action != Action.REJECT:
        _set_evidence(finding, review.report.text, span)
    finding.reason_code, finding.comment = reason_code, comment
    finding.decided_by, finding.decided_at = user, timezone.now()
    finding.version += 1
    finding.save()
    _record(review, finding, user, action, before, reason_code, comment, version)
    _finish(review, user)
    return finding


@transaction.atomic
def finding_add(
    *,
    review_id: int,
    user: Any,
    key: str,
    locations: list[str] | None = None,
    episode: str = "",
    details: list[str] | None = None,
    start: int | None = None,
    end: int | None = None,
    comment: str = "",
) -> ReviewFinding:
    """A finding the models missed, usually from text the clinician selected."""
    _check_can_review(user)
    review = _lock(review_id, user)
    text = review.report.text
    key, locations, details = key.strip(), list(dict.fromkeys(locations or [])), list(details or [])
    kind = finding_kinds(review.report.modality).get(key, "")
    _clean_changes(review, kind, key, locations, episode, details)  # a key with no kind raises
    locations = _normalised_locations(review, locations, None)
    live = review.findings.filter(superseded=False, key=key).exclude(status=ReviewFinding.Status.REJECTED)
    if live.exists():
        raise ValidationError(f"“{key}” is already listed; edit that finding instead.")
    span = _clean_span(text, start, end)
    if span is None:  # an added finding is verified: it needs its evidence (review.flags)
        raise ValidationError(
            f"Select the text that shows “{key}” in the report first; it becomes the evidence."
        )
    start, end = span
    finding = ReviewFinding.objects.create(
        review=review,
        report_id=review.report_id,
        kind=kind,
        status=ReviewFinding.Status.ADDED,
        key=key,
        locations=locations,
        episode=episode,
        details=details,
        evidence=text[start:end],
        evidence_start=start,
        evidence_end=end,
        comment=comment.strip(),
        decided_by=user,
        decided_at=timezone.now(),
        version=2,
    )
    _record(review, finding, user, Action.ADD, None, "", comment.strip(), 1)
    _finish(review, user)
    return finding


def grid_toggle(
    *,
    review_id: int,
    user: Any,
    lesion: str,
    location: str,
    version: int | None,
    start: int | None = None,
    end: int | None = None,
) -> ReviewFinding:
    """Tick or untick one lesion x location cell: an edit of the lesion's finding,
    or, when the models did not report that lesion, an added finding. A tick is
    the last click and wins: ticking "right lung" where "right upper lobe" is
    listed replaces the lobe, ticking the lobe where its lung is listed replaces
    the lung. An untick is a plain removal. `start`/`end`: the text the
    clinician selected, the evidence of an added lesion (required then) or of an
    edited one that has none."""
    live = (
        ReviewFinding.objects.filter(review_id=review_id, superseded=False, key=lesion)
        .exclude(status=ReviewFinding.Status.REJECTED)
        .order_by("-id")
        .first()
    )
    if live is None:
        return finding_add(
            review_id=review_id, user=user, key=lesion, locations=[location], start=start, end=end
        )
    locations = list(live.locations or [])
    ticked = location not in locations
    locations = [*locations, location] if ticked else [x for x in locations if x != location]
    return finding_decide(
        finding_id=live.pk,
        user=user,
        action=Action.EDIT,
        version=live.version if version is None else version,
        locations=locations,
        ticked_location=location if ticked else None,
        start=start,
        end=end,
    )


def _state_before_decisions(finding: ReviewFinding) -> dict[str, Any] | None:
    """The finding as it was when it was last undecided: the `before` of the
    first decision after it was last pending (None for a finding a clinician added)."""
    state = None
    for decision in finding.decisions.order_by("-id"):
        if decision.action == Action.ADD:
            return None
        before = decision.before or {}
        state = before
        if before.get("status") == ReviewFinding.Status.PENDING:
            return before
    return state


@transaction.atomic
def finding_undo(*, finding_id: int, user: Any, version: int) -> ReviewFinding:
    """Take back the decisions on a finding: an AI finding is pending again with the
    values it had before them; a finding a clinician added is withdrawn (hidden as
    superseded, kept for the audit). Audited as one "undo" decision."""
    _check_can_review(user)
    review_id = ReviewFinding.objects.values_list("review_id", flat=True).get(pk=finding_id)
    review = _lock(review_id, user)
    finding = ReviewFinding.objects.select_for_update().get(pk=finding_id)
    if finding.superseded:
        raise ReviewConflict("A newer prediction replaced this suggestion; reload the report.")
    if finding.version != version:
        raise ReviewConflict("This finding was changed after you opened it; reload to see it.")
    if not finding.is_decided:
        raise ValidationError("There is no decision on this finding to undo.")
    before = snapshot(finding)
    state = _state_before_decisions(finding)
    if state is None:
        finding.superseded = True
    else:
        finding.status = ReviewFinding.Status.PENDING
        finding.key = str(state.get("key") or finding.key)
        finding.locations = list(state.get("locations") or [])
        finding.episode = str(state.get("episode") or "")
        finding.details = list(state.get("details") or [])
        finding.evidence = str(state.get("evidence") or "")
        span = state.get("evidence_span") or [None, None]
        finding.evidence_start, finding.evidence_end = span[0], span[1]
        finding.decided_by, finding.decided_at = None, None
    finding.reason_code, finding.comment = "", ""
    finding.version += 1
    finding.save()
    _record(review, finding, user, Action.UNDO, before, version=version)
    _finish(review, user)
    return finding


@transaction.atomic
def report_confirm_no_findings(*, review_id: int, user: Any, comment: str = "") -> ReviewReport:
    """For a report with nothing to decide (the LLM failed, stage 1 found nothing)."""
    _check_can_review(user)
    review = _lock(review_id, user)
    if review.findings.filter(superseded=False).exists():
        raise ValidationError("This report has findings; decide each of them.")
    _record(review, None, user, Action.CONFIRM_NONE, None, "", comment.strip())
    review.status = ReviewReport.Status.VERIFIED
    review.verified_at, review.verified_by = timezone.now(), user
    review.lease_user, review.lease_until = None, None
    review.save()
    return review
