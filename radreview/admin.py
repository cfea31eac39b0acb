"""Django admin for users, groups, login lockouts and the security audit (issue 17).

Privileges are bounded here, where people change them (docs/decisions.md
"Issue 17: privilege changes"):
* nobody changes their own is_superuser, is_staff, groups or direct permissions;
* only superusers grant superuser status or direct permissions, change a group's
  permissions, or edit a superuser's account (its password included);
* every change of those fields, by anyone, is a SecurityEvent row.
Unlocking a login is deleting its Access attempt rows (django-axes), audited too.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.admin import AccessFailureLogAdmin as AxesAccessFailureLogAdmin
from axes.admin import AccessLogAdmin as AxesAccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from radreview.models import SecurityEvent
from radreview.security import USER_PRIVILEGE_FIELDS, privilege_changes_record, unlock_record

SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions")


def _changed(form: ModelForm, fields: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Before (the form's initial values) and after of the privilege fields the form changed."""
    changed = [f for f in fields if f in form.changed_data]
    return {f: form.initial.get(f) for f in changed}, {f: form.cleaned_data[f] for f in changed}


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk == request.user.pk:
            fields += USER_PRIVILEGE_FIELDS
        elif not request.user.is_superuser:
            fields += SUPERUSER_ONLY_FIELDS
        return tuple(dict.fromkeys(fields))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A non-superuser who could edit a superuser could set its password and become it.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, after = _changed(form, USER_PRIVILEGE_FIELDS)
        if change:  # a new user's form has none of these fields
            privilege_changes_record(
                actor=_actor(request), target_user=form.instance, before=before, after=after
            )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A role's permissions are a superuser's call (radreview.roles keeps the
        # role groups' own permissions in step after every migrate).
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.user_set.filter(pk=request.user.pk).exists():
            return (*fields, "permissions")  # not the permissions of a group one is in
        return fields

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before, after = _changed(form, ("permissions",))
        if not change:
            before = {f: [] for f in after}
        privilege_changes_record(
            actor=_actor(request), target_group=form.instance, before=before, after=after
        )


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """A locked-out username or address is unlocked by deleting its attempts
    (admins hold axes.delete_accessattempt); each deletion is audited."""

    def delete_model(self, request: HttpRequest, obj: AccessAttempt) -> None:
        unlock_record(actor=_actor(request), attempts=[obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        unlock_record(actor=_actor(request), attempts=list(queryset))
        super().delete_queryset(request, queryset)


class _ReadOnly:
    """The logs stay as written, superusers included (axes_reset_logs prunes them)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(AccessLog)
admin.site.unregister(AccessFailureLog)


@admin.register(AccessLog)
class AccessLogAdmin(_ReadOnly, AxesAccessLogAdmin):
    pass


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(_ReadOnly, AxesAccessFailureLogAdmin):
    pass


@admin.register(SecurityEvent)
class SecurityEventAdmin(_ReadOnly, admin.ModelAdmin):
    """The security audit: read-only, even for superusers."""

    list_display = ("created_at", "kind", "actor", "target_user", "target_group", "username", "field")
    list_filter = ("kind", "field")
    search_fields = ("username", "target_user__username", "actor__username")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
