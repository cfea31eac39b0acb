"""manage.py demo_pipeline: enqueue the demo's jobs (train, promote, stage 1, stage 2,
review sync, evaluation) so every role has real work waiting. Run after demo_setup;
a worker does the work. Idempotent: does nothing while a pipeline is queued,
running or done (see demo.services.pipeline).

    manage.py demo_pipeline                      # enqueue (scripts/run.sh does this)
    manage.py demo_pipeline --status             # print the steps and their state
    manage.py demo_pipeline --wait               # enqueue, then wait for the steps
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.selectors import demo_pipeline_current
from demo.services.pipeline.options import DemoOptions
from demo.services.pipeline.start import demo_pipeline_start
from demo.services.status import pipeline_status_lines
from jobs.models import Job


class Command(BaseCommand):
    help = "Enqueue the demo pipeline (train and promote stage 1, run stage 1 and 2, review sync, evaluate)."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = DemoOptions()
        parser.add_argument("--preset", default=defaults.preset, help="stage 1 size preset")
        parser.add_argument("--epochs", type=int, default=25, help="stage 1 fine-tuning epochs")
        parser.add_argument("--max-steps", type=int, default=0, help="cap on stage 1 training steps")
        parser.add_argument(
            "--stage2-mode", default=defaults.stage2_mode, choices=("llm", "llm_hint", "rules")
        )
        parser.add_argument(
            "--stage2-reports", type=int, default=defaults.stage2_reports, help="over both modalities"
        )
        parser.add_argument("--eval-modes", default=",".join(defaults.eval_modes), help="comma-separated")
        parser.add_argument("--status", action="store_true", help="only print the latest pipeline's steps")
        parser.add_argument("--wait", action="store_true", help="wait until the pipeline finishes")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to --wait")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["status"]:
            job = demo_pipeline_current()
            if job is None:
                raise CommandError("no demo pipeline has been started")
            self._print(job)
            return
        if opts["stage2_reports"] < 1:
            raise CommandError("--stage2-reports must be at least 1")
        options = DemoOptions(
            preset=opts["preset"],
            epochs=opts["epochs"],
            max_steps=opts["max_steps"],
            stage2_mode=opts["stage2_mode"],
            stage2_reports=opts["stage2_reports"],
            eval_modes=tuple(m.strip() for m in opts["eval_modes"].split(",") if m.strip()),
        )
        job, created = demo_pipeline_start(options=options)
        if created:
            self.stdout.write(f"demo pipeline queued as job #{job.pk}; a worker runs it (progress: /jobs/)")
        else:
            self.stdout.write(f"demo pipeline job #{job.pk} is already {job.get_status_display().lower()}")
        if opts["wait"]:
            deadline = time.monotonic() + opts["timeout"]
            while not job.is_finished and time.monotonic() < deadline:
                time.sleep(5)
                job.refresh_from_db()
            self._print(job)
            if job.status != Job.Status.SUCCEEDED:
                raise CommandError(f"demo pipeline job #{job.pk}: {job.status} {job.error}".strip())

    def _print(self, job: Job) -> None:
        for line in pipeline_status_lines(job=job):
            self.stdout.write(line)
