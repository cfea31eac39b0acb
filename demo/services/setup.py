"""Load the demo: one user per role, the seeded corpus with gold labels for most of
it, and assignments so the annotators have work waiting.

    result = demo_setup(n=600, seed=7)     # `manage.py demo_setup`, run by scripts/run.sh

Idempotent: users are got or created (an existing user keeps the password it has),
and the corpus loads only while no report of source "demo" exists. The demo logins
are published (the command prints them), so the command runs only with DEBUG on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

from annotations.models import Assignment, Modality, Report
from annotations.services.gold import GoldLoadResult, gold_load
from annotations.services.importing import reports_import
from annotations.services.weak_labels import entity_values_count
from demo.generator.corpus import write_jsonl
from radreview import roles

DEMO_SOURCE = "demo"
DEMO_ADMIN = "admin"
# (username, role, password): printed on every run, created only where DEBUG is on.
DEMO_USERS = (
    (DEMO_ADMIN, roles.ADMIN, "admin-demo-pass"),
    ("annotator", roles.ANNOTATOR, "annotator-demo-pass"),
    ("annotator2", roles.ANNOTATOR, "annotator2-demo-pass"),
    ("clinician", roles.CLINICIAN, "clinician-demo-pass"),
)
GOLD_USER = "demo-gold"  # inactive: the gold labels' annotator, never a login
# The corpus's last reports stay without gold: ASSIGNED_SINGLE of them to "annotator"
# alone, ASSIGNED_DOUBLE to both annotators (so agreement and adjudication have work).
ASSIGNED_SINGLE = 15
ASSIGNED_DOUBLE = 6


class DemoSetupError(Exception):
    """The demo corpus could not be imported; the message says why."""


@dataclass(frozen=True)
class CorpusLoaded:
    """What loading the corpus created (the command prints each line)."""

    reports: int
    gold: GoldLoadResult
    assigned: int
    values_counted: int


@dataclass(frozen=True)
class DemoSetupResult:
    users: dict[str, User]
    corpus: CorpusLoaded | None  # None: the corpus was already loaded


def demo_setup(*, n: int, seed: int) -> DemoSetupResult:
    """Ensure the demo users, then load an `n`-report corpus of `seed` unless one is loaded."""
    users = demo_users_ensure()
    if Report.objects.filter(source=DEMO_SOURCE).exists():
        return DemoSetupResult(users=users, corpus=None)
    return DemoSetupResult(users=users, corpus=demo_corpus_load(n=n, seed=seed, users=users))


def demo_users_ensure() -> dict[str, User]:
    """The demo users by username, each in its role's group."""
    return {name: demo_user_ensure(name=name, role=role, password=pw) for name, role, pw in DEMO_USERS}


def demo_user_ensure(*, name: str, role: str, password: str) -> User:
    """Get or create one demo user (admins are staff) and put it in its role's group."""
    user, created = get_user_model().objects.get_or_create(
        username=name, defaults={"is_staff": role == roles.ADMIN}
    )
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def demo_corpus_load(*, n: int, seed: int, users: dict[str, User]) -> CorpusLoaded:
    """Write the corpus under DATA_DIR/demo, import it, load the gold of all but the
    last reports, assign those to the annotators and count the entity values."""
    demo_dir = Path(settings.DATA_DIR) / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    corpus = demo_dir / "demo_gold.jsonl"
    write_jsonl(corpus, n=n, seed=seed)
    imported = _corpus_import(corpus=corpus, admin=users[DEMO_ADMIN])
    # The last reports are left without gold for the annotators to label.
    lines = corpus.read_text(encoding="utf-8").splitlines()
    keep = ASSIGNED_SINGLE + ASSIGNED_DOUBLE
    gold = _gold_preload(lines=lines[:-keep], gold_file=demo_dir / "demo_gold_preloaded.jsonl")
    to_annotate = [json.loads(line)["id"] for line in lines[-keep:]]
    assigned = _assignments_create(external_ids=to_annotate, users=users)
    # The entity value manager shows how many reports each value matches; count
    # them once here (seconds on the demo corpus) rather than leave "not counted".
    counted = sum(entity_values_count(modality=m) for m in Modality.objects.all())
    return CorpusLoaded(reports=imported, gold=gold, assigned=assigned, values_counted=counted)


def _corpus_import(*, corpus: Path, admin: User) -> int:
    result = reports_import(path=corpus, fmt="jsonl", source=DEMO_SOURCE, on_duplicate="skip", user=admin)
    if not result.ok:
        raise DemoSetupError(f"demo import failed: {result.problems[:3]}")
    return result.created


def _gold_preload(*, lines: list[str], gold_file: Path) -> GoldLoadResult:
    """Load these gold lines as the inactive gold user (through a file: gold_load's input)."""
    gold_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    gold_user, _ = get_user_model().objects.get_or_create(username=GOLD_USER, defaults={"is_active": False})
    return gold_load(path=gold_file, source=DEMO_SOURCE, annotator=gold_user)


def _assignments_create(*, external_ids: list[str], users: dict[str, User]) -> int:
    """Every report to "annotator"; the last ASSIGNED_DOUBLE also to "annotator2"."""
    rows_of = Report.objects.current().filter(source=DEMO_SOURCE, external_id__in=external_ids)
    reports = {r.external_id: r for r in rows_of}
    admin = users[DEMO_ADMIN]
    rows = []
    for i, external_id in enumerate(external_ids):
        report = reports[external_id]
        rows.append(Assignment(report=report, annotator=users["annotator"], assigned_by=admin))
        if i >= ASSIGNED_SINGLE:
            rows.append(Assignment(report=report, annotator=users["annotator2"], assigned_by=admin))
    Assignment.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
