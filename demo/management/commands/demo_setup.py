"""Load the demo: one user per role, the synthetic corpus and its gold labels,
and a few assignments so annotators have work waiting. Idempotent (see
demo.services.setup)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.services.setup import DEMO_USERS, DemoSetupError, demo_setup


class Command(BaseCommand):
    help = "Create demo users, import the demo corpus with gold labels, assign reports to annotators."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--n", type=int, default=600, help="reports in the demo corpus")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--force", action="store_true", help="allow with DEBUG off")

    def handle(self, *args: Any, n: int, seed: int, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("demo_setup creates users with published passwords; run it with DEBUG on.")
        try:
            result = demo_setup(n=n, seed=seed)
        except DemoSetupError as exc:
            raise CommandError(str(exc)) from exc
        if result.corpus is None:
            self.stdout.write("demo corpus already loaded")
        else:
            self.stdout.write(f"imported {result.corpus.reports} demo reports")
            self.stdout.write(f"loaded gold labels: {result.corpus.gold}")
            self.stdout.write(f"assigned {result.corpus.assigned} reports to the demo annotators")
            self.stdout.write(f"counted the matches of {result.corpus.values_counted} entity values")
        self.stdout.write("\nDemo logins (username / password):")
        for name, role, password in DEMO_USERS:
            self.stdout.write(f"  {role:<10} {name:<11} / {password}")
