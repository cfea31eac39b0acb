"""Services of the review app: syncing findings from predictions, and decisions."""

from review.services.bulk import BulkResult, findings_bulk_decide
from review.services.decisions import (
    ConfirmationRequired,
    EvidenceRequired,
    ReviewConflict,
    finding_add,
    finding_decide,
    finding_undo,
    grid_toggle,
    report_confirm_no_findings,
)
from review.services.lease import lease_acquire, lease_release
from review.services.sync import sync_report_findings, sync_reports, sync_reports_findings

__all__ = [
    "BulkResult",
    "ConfirmationRequired",
    "EvidenceRequired",
    "ReviewConflict",
    "finding_add",
    "finding_decide",
    "finding_undo",
    "findings_bulk_decide",
    "grid_toggle",
    "lease_acquire",
    "lease_release",
    "report_confirm_no_findings",
    "sync_report_findings",
    "sync_reports",
    "sync_reports_findings",
]
