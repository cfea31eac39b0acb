"""The navigation bar every page shows: the sections the user's role may open, with
the one the page belongs to marked (issue 18).

Each entry names the permission its page's view checks (the same `user.has_perm` as
`permission_required`), so the bar never links a page that answers 403. An entry
belongs to the pages under its own URL and under the extra prefixes it names; the
longest matching prefix wins, so /models/stage2/ is "Stage 2", not "Models".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.urls import NoReverseMatch, reverse

from radreview import roles

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# Who may open the analytics pages (analytics.permissions.VIEW_PERMS: admins and
# clinicians); repeated here because radreview helpers import no app.
ANALYTICS_PERMS = (roles.PERM_RUN_JOBS, roles.PERM_REVIEW)


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str
    perms: tuple[str, ...]  # any one of them opens the page
    prefixes: tuple[str, ...] = ()  # other URL prefixes of the same section
    staff: bool = False  # a Django admin page: it also needs is_staff


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool  # the page belongs to this section (aria-current="page" in the bar)


ENTRIES: tuple[Entry, ...] = (
    Entry("Annotate", "annotations:queue", (roles.PERM_ANNOTATE,), ("/annotations/assignments/",)),
    Entry("Review", "review:queue", (roles.PERM_REVIEW,)),
    Entry("Import reports", "annotations:import_upload", (roles.PERM_IMPORT,)),
    Entry("Import labels", "annotations:label_import_upload", (roles.PERM_IMPORT,)),
    Entry("Reports", "annotations:report_list", (roles.PERM_IMPORT,)),
    Entry("Assign", "annotations:assign", (roles.PERM_ASSIGN,)),
    Entry("Agreement", "annotations:agreement", (roles.PERM_ADJUDICATE,), ("/annotations/adjudicate/",)),
    Entry("Entity values", "annotations:values", (roles.PERM_MANAGE_SCHEMA,)),
    Entry("Rules", "annotations:rules", (roles.PERM_MANAGE_SCHEMA,)),
    Entry("Weak labels", "annotations:weak_labels", (roles.PERM_RUN_JOBS,)),
    Entry("Models", "inference:model_list", (roles.PERM_RUN_JOBS,), ("/analytics/models/",)),
    Entry("Stage 2", "inference:stage2_start", (roles.PERM_RUN_JOBS,), ("/models/llm/",)),
    Entry("Evaluation", "analytics:evaluation_list", ANALYTICS_PERMS),
    Entry("Longitudinal", "analytics:longitudinal", ANALYTICS_PERMS),
    Entry("Export", "analytics:export", (roles.PERM_IMPORT,)),
    Entry("Jobs", "jobs:job_list", (roles.PERM_RUN_JOBS,)),
    Entry("Users", "admin:auth_user_changelist", ("auth.change_user",), ("/admin/",), staff=True),
)


def nav_items(user: User | AnonymousUser, path: str) -> list[NavItem]:
    """The entries `user` may open, in bar order, the one `path` belongs to marked current."""
    if not user.is_authenticated:
        return []
    allowed: list[tuple[Entry, str]] = []
    for entry in ENTRIES:
        if entry.staff and not user.is_staff:
            continue
        if not any(user.has_perm(p) for p in entry.perms):
            continue
        try:
            allowed.append((entry, reverse(entry.url_name)))
        except NoReverseMatch:  # that screen is not installed
            continue
    current = _current(allowed, path)
    return [NavItem(entry.label, url, entry.url_name == current) for entry, url in allowed]


def _current(allowed: list[tuple[Entry, str]], path: str) -> str | None:
    best, best_len = None, 0
    for entry, url in allowed:
        for prefix in (url, *entry.prefixes):
            if path.startswith(prefix) and len(prefix) > best_len:
                best, best_len = entry.url_name, len(prefix)
    return best
