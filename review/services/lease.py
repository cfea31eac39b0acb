"""The advisory lease on a report under review: who has it open.

Opening a report gives its reader the lease for LEASE_MINUTES (renewed by each
decision); a second clinician who opens it is told who has it, and the
decision services refuse their decisions until the lease ends
(review.services.decisions).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from review.models import ReviewReport

LEASE_MINUTES = 15


def lease_holder(review: ReviewReport, user: Any) -> Any:
    """The other user holding an unexpired lease on the report, or None."""
    other = review.lease_user_id and review.lease_user_id != user.pk
    if other and review.lease_until and review.lease_until > timezone.now():
        return review.lease_user
    return None


def lease_acquire(*, review: ReviewReport, user: Any) -> Any:
    """Take or renew the lease unless someone else holds it; returns that someone, or None.
    Writes only when the lease changes hands or has less than half its time left."""
    holder = lease_holder(review, user)
    if holder is not None:
        return holder
    now = timezone.now()
    fresh = review.lease_until and review.lease_until - now > timedelta(minutes=LEASE_MINUTES / 2)
    if review.lease_user_id == user.pk and fresh:
        return None
    until = now + timedelta(minutes=LEASE_MINUTES)
    free = (
        Q(lease_user__isnull=True)
        | Q(lease_user=user)
        | Q(lease_until__isnull=True)
        | Q(lease_until__lte=now)
    )
    taken = ReviewReport.objects.filter(free, pk=review.pk).update(lease_user=user, lease_until=until)
    if not taken:  # someone took it between our read and write
        review.refresh_from_db(fields=["lease_user", "lease_until"])
        return lease_holder(review, user)
    review.lease_user, review.lease_until = user, until
    return None


def lease_release(*, review: ReviewReport, user: Any) -> None:
    ReviewReport.objects.filter(pk=review.pk, lease_user=user).update(lease_user=None, lease_until=None)
