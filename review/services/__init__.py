"""Services of the review app: syncing findings from predictions, and decisions."""

from review.services.decisions import (
    ReviewConflict,
    finding_add,
    finding_decide,
    grid_toggle,
    lease_acquire,
    lease_release,
    report_confirm_no_findings,
)
from review.services.sync import sync_report_findings, sync_reports

__all__ = [
    "ReviewConflict",
    "finding_add",
    "finding_decide",
    "grid_toggle",
    "lease_acquire",
    "lease_release",
    "report_confirm_no_findings",
    "sync_report_findings",
    "sync_reports",
]
