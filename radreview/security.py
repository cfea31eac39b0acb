"""Writes of the security audit (radreview.models.SecurityEvent): privilege changes
made in Django admin, login lockouts (django-axes) and their unlocking.

The rules these rows record are enforced elsewhere: who may change which privilege
in radreview.admin, the lockout by django-axes (settings "Login lockout").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from radreview.models import SecurityEvent

if TYPE_CHECKING:  # models: importing them needs the app registry, annotations do not
    from axes.models import AccessAttempt
    from django.contrib.auth.models import Group, User

# The fields of a user that grant privileges; a change to any of them is audited.
USER_PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def privilege_value(value: Any) -> Any:
    """A privilege as the audit stores it: a flag as is, groups by name and
    permissions as "app_label.codename", sorted."""
    if isinstance(value, bool) or value is None:
        return value
    names = []
    for item in value:
        if hasattr(item, "codename"):
            names.append(f"{item.content_type.app_label}.{item.codename}")
        else:
            names.append(item.name)
    return sorted(names)


@transaction.atomic
def privilege_changes_record(
    *,
    actor: User,
    target_user: User | None = None,
    target_group: Group | None = None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> list[SecurityEvent]:
    """One row per privilege field whose value differs between `before` and `after`."""
    rows = []
    for field, old in before.items():
        old, new = privilege_value(old), privilege_value(after[field])
        if old != new:
            rows.append(
                SecurityEvent.objects.create(
                    kind=SecurityEvent.Kind.PRIVILEGE,
                    actor=actor,
                    target_user=target_user,
                    target_group=target_group,
                    field=field,
                    before=old,
                    after=new,
                )
            )
    return rows


def client_ip(request: Any) -> str | None:
    """The client's address for lockouts (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, or
    behind PROXY_COUNT reverse proxies the address the outermost one saw. X-Forwarded-For
    is read from the right: entries left of the proxies' own are the client's to invent."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.PROXY_COUNT
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if not proxies or len(hops) < proxies:
        return remote
    return hops[-proxies]


def lockout_record(
    sender: Any, *, request: Any, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    """django-axes' user_locked_out receiver: a row for the failure that crossed the
    limit. Axes sends the signal again for every failure while locked out; those are
    in its own failure log (Access failures in Django admin), not here."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is not None and failures != settings.AXES_FAILURE_LIMIT:
        return
    SecurityEvent.objects.create(
        kind=SecurityEvent.Kind.LOCKOUT, username=username or "", ip_address=ip_address
    )


@transaction.atomic
def unlock_record(*, actor: User, attempts: Iterable[AccessAttempt]) -> list[SecurityEvent]:
    """A row per lockout record an admin removes (removing it is axes' unlock)."""
    return [
        SecurityEvent.objects.create(
            kind=SecurityEvent.Kind.UNLOCK,
            actor=actor,
            username=attempt.username or "",
            ip_address=attempt.ip_address,
            before={"failures": attempt.failures_since_start},
        )
        for attempt in attempts
    ]
