"""The security audit: who changed whose privileges, and which logins were locked
out or unlocked (issue 17; docs/decisions.md "Issue 17: privilege changes").

Rows are append-only (radreview.records): written once by radreview.security and
never changed or deleted, superusers included.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from radreview.records import AppendOnlyModel


class SecurityEvent(AppendOnlyModel):
    class Kind(models.TextChoices):
        PRIVILEGE = "privilege", "Privilege change"
        LOCKOUT = "lockout", "Login locked out"
        UNLOCK = "unlock", "Login unlocked"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Who did it: null for a lockout (nobody signed in did it).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Whom it concerns: a user, a group (its permissions), or for a lockout the
    # username typed (which need not exist) and the address.
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # What changed: the field ("is_superuser", "groups", ...) and its value before and after.
    field = models.CharField(max_length=32, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["kind", "created_at"], name="securityevent_kind_time")]

    def __str__(self) -> str:
        whom = self.target_user or self.target_group or self.username
        return f"{self.get_kind_display()}: {whom} {self.field}".strip()
