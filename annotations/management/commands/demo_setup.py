"""Load the demo: one user per role, the synthetic corpus and its gold labels,
and a few assignments so annotators have work waiting. Idempotent."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from annotations.demo.corpus import write_jsonl
from annotations.models import Assignment, Modality, Report
from annotations.services.gold import gold_load
from annotations.services.importing import reports_import
from annotations.services.weak_labels import entity_values_count
from radreview import roles

DEMO_SOURCE = "demo"
# Demo logins are printed on every run; they exist only where DEBUG is on.
DEMO_USERS = (
    ("admin", roles.ADMIN, "admin-demo-pass"),
    ("annotator", roles.ANNOTATOR, "annotator-demo-pass"),
    ("annotator2", roles.ANNOTATOR, "annotator2-demo-pass"),
    ("clinician", roles.CLINICIAN, "clinician-demo-pass"),
)
GOLD_USER = "demo-gold"
ASSIGNED_SINGLE = 15
ASSIGNED_DOUBLE = 6


class Command(BaseCommand):
    help = "Create demo users, import the demo corpus with gold labels, assign reports to annotators."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--n", type=int, default=600, help="reports in the demo corpus")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--force", action="store_true", help="allow with DEBUG off")

    def handle(self, *args, n: int, seed: int, force: bool, **options) -> None:  # type: ignore[no-untyped-def]
        if not settings.DEBUG and not force:
            raise CommandError("demo_setup creates users with published passwords; run it with DEBUG on.")
        users = {name: self._user(name, role, password) for name, role, password in DEMO_USERS}
        if not Report.objects.filter(source=DEMO_SOURCE).exists():
            self._load_corpus(n=n, seed=seed, admin=users["admin"], annotators=users)
        else:
            self.stdout.write("demo corpus already loaded")
        self.stdout.write("\nDemo logins (username / password):")
        for name, role, password in DEMO_USERS:
            self.stdout.write(f"  {role:<10} {name:<11} / {password}")

    def _user(self, name: str, role: str, password: str):  # type: ignore[no-untyped-def]
        User = get_user_model()
        user, created = User.objects.get_or_create(username=name, defaults={"is_staff": role == roles.ADMIN})
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        return user

    def _load_corpus(self, *, n: int, seed: int, admin, annotators) -> None:  # type: ignore[no-untyped-def]
        demo_dir = Path(settings.DATA_DIR) / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        corpus = demo_dir / "demo_gold.jsonl"
        write_jsonl(corpus, n=n, seed=seed)
        result = reports_import(path=corpus, fmt="jsonl", source=DEMO_SOURCE, on_duplicate="skip", user=admin)
        if not result.ok:
            raise CommandError(f"demo import failed: {result.problems[:3]}")
        self.stdout.write(f"imported {result.created} demo reports")

        # The last reports are left without gold for the annotators to label.
        lines = corpus.read_text(encoding="utf-8").splitlines()
        to_annotate = [json.loads(line)["id"] for line in lines[-(ASSIGNED_SINGLE + ASSIGNED_DOUBLE) :]]
        gold_file = demo_dir / "demo_gold_preloaded.jsonl"
        gold_file.write_text(
            "\n".join(lines[: -(ASSIGNED_SINGLE + ASSIGNED_DOUBLE)]) + "\n", encoding="utf-8"
        )
        gold_user, _ = get_user_model().objects.get_or_create(
            username=GOLD_USER, defaults={"is_active": False}
        )
        loaded = gold_load(path=gold_file, source=DEMO_SOURCE, annotator=gold_user)
        self.stdout.write(f"loaded gold labels: {loaded}")

        reports = {
            r.external_id: r for r in Report.objects.filter(source=DEMO_SOURCE, external_id__in=to_annotate)
        }
        rows = []
        for i, external_id in enumerate(to_annotate):
            report = reports[external_id]
            rows.append(Assignment(report=report, annotator=annotators["annotator"], assigned_by=admin))
            if i >= ASSIGNED_SINGLE:
                rows.append(Assignment(report=report, annotator=annotators["annotator2"], assigned_by=admin))
        Assignment.objects.bulk_create(rows, ignore_conflicts=True)
        self.stdout.write(f"assigned {len(rows)} reports to the demo annotators")

        # The entity value manager shows how many reports each value matches; count
        # them once here (seconds on the demo corpus) rather than leave "not counted".
        counted = sum(entity_values_count(modality=m) for m in Modality.objects.all())
        self.stdout.write(f"counted the matches of {counted} entity values")
