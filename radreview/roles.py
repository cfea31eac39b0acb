"""The three roles (annotator, clinician, admin; docs/pipeline.md "Roles") as Django groups,
and the permissions each holds.

Views check permissions, never group names, so a site can give one person two
roles or make a custom group. The groups are created by a data migration
(annotations 0002) and kept complete after every migrate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # models: importing them needs the app registry, annotations do not
    from django.contrib.auth.models import AnonymousUser, Group, Permission, User

ANNOTATOR = "annotator"
CLINICIAN = "clinician"
ADMIN = "admin"
ROLES = (ANNOTATOR, CLINICIAN, ADMIN)

# Custom permissions are declared on annotations.Report (Meta.permissions).
PERM_ANNOTATE = "annotations.annotate_report"
PERM_REVIEW = "annotations.review_findings"
PERM_IMPORT = "annotations.import_reports"
PERM_MANAGE_SCHEMA = "annotations.manage_schema"
PERM_RUN_JOBS = "annotations.run_jobs"
PERM_PROMOTE = "annotations.promote_model"
PERM_VIEW_REPORTS = "annotations.view_report"
# Declared on annotations.Assignment (migration 0004).
PERM_ASSIGN = "annotations.assign_reports"
PERM_ADJUDICATE = "annotations.adjudicate_assignment"

# Change and delete of the records that are never changed or deleted (issue 16).
APPEND_ONLY_PERMISSIONS = (
    "inference.change_modelpromotion",
    "inference.delete_modelpromotion",
    "inference.change_modelversion",
    "inference.delete_modelversion",
    "inference.change_stage1prediction",
    "inference.delete_stage1prediction",
)

# "app.*" grants every permission of that app, including those of models that
# later migrations add (sync_role_groups runs again after every migrate).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ANNOTATOR: (PERM_ANNOTATE, PERM_VIEW_REPORTS),
    CLINICIAN: (PERM_REVIEW, PERM_VIEW_REPORTS),
    ADMIN: (
        "annotations.*",
        "jobs.*",
        "inference.*",
        "analytics.*",
        # Admins read every review row and the decision history; deciding stays
        # a clinician's act (PERM_REVIEW below).
        "review.view_reviewdecision",
        "review.view_reviewreport",
        "review.view_reviewfinding",
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "auth.view_group",
        "authtoken.*",
        # Login lockouts (django-axes): see them and unlock (delete the attempts);
        # the logs and the security audit are read-only (radreview.admin).
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
        "radreview.view_securityevent",
        # Verifying AI findings is a clinician's act and labelling an annotator's:
        # an admin who should do either gets that group as well.
        "-" + PERM_REVIEW,
        "-" + PERM_ANNOTATE,
        # Append-only records (issue 16): no one changes or deletes them, and the
        # models refuse it too (radreview.records); a version is retired instead.
        *("-" + p for p in APPEND_ONLY_PERMISSIONS),
    ),
}


def sync_role_groups(*, group_model: type[Group], permission_model: type[Permission]) -> None:
    """Create the role groups and give each exactly the permissions above.
    Works with real or migration-historical models (typed as the real ones: a
    historical model has the same fields and manager)."""
    all_perms = list(permission_model.objects.select_related("content_type"))
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        allow = [g for g in grants if not g.startswith("-")]
        deny = [g[1:] for g in grants if g.startswith("-")]
        wanted = [
            p
            for p in all_perms
            if any(_grant_matches(g, p.content_type.app_label, p.codename) for g in allow)
            and not any(_grant_matches(g, p.content_type.app_label, p.codename) for g in deny)
        ]
        group.permissions.set(wanted)


def _grant_matches(grant: str, app_label: str, codename: str) -> bool:
    grant_app, grant_code = grant.split(".")
    return grant_app == app_label and grant_code in ("*", codename)


def user_roles(user: User | AnonymousUser) -> list[str]:
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    if user.is_superuser:
        names.add(ADMIN)
    return [r for r in ROLES if r in names]


def has_role_perm(user: User | AnonymousUser | None, perm: str) -> bool:
    """Whether `user` holds `perm` through a group or a direct grant. Unlike
    user.has_perm, superuser status alone grants nothing: a superuser who should
    decide review findings is put in the clinician group like anyone else
    (docs/decisions.md "Issue 17: privilege changes")."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if not user.is_superuser:
        return user.has_perm(perm)  # cached per request by the auth backend
    app_label, codename = perm.split(".")
    held = {"permissions__content_type__app_label": app_label, "permissions__codename": codename}
    direct = {"content_type__app_label": app_label, "codename": codename}
    return user.groups.filter(**held).exists() or user.user_permissions.filter(**direct).exists()
