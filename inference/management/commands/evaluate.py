"""Evaluate modes on a gold file and print the method's tables.

    python manage.py evaluate GOLD.jsonl --modes rules,llm,llm_hint,bert [--limit 50] [--json out.json]
    python manage.py evaluate GOLD.jsonl --modes combined --ask-all-questions [--record-question-help]
    python manage.py demo_corpus --out var/demo.jsonl --n 40 && python manage.py evaluate var/demo.jsonl

GOLD.jsonl is a gold file (docs/gold-files.md: one report per line with "id",
"modality", "text", "gold", ...; read by inference.ml.gold). Reports not imported yet are imported first
(source `--source`, default "gold:<file name>"), so stage 2 predictions are
stored against them like any other run. Per modality and mode, prints the
entity-key table (report level and per key) and the relation table (per key,
macro, micro), and writes every figure as JSON (default
RADREVIEW_DATA_DIR/eval/<file stem>.json). Modes come from the registry in
inference/services/evaluation.py (`--list-modes` shows them). Stage 2 predictions
made here are stored as evaluation rows: they never stand for a report.
The combined mode also prints what asking the LLM each type of question was worth
(asked, answered, changed, right, wrong; --ask-all-questions asks every type, to
measure those the site does not ask); --record-question-help stores that as the
site's measurement, which sets the types asked by default (inference/services/questions.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Report
from annotations.services.importing import reports_import
from inference.ml.gold import GoldFileError, gold_file_records
from inference.ml.llm.backends import LLMError
from inference.services.evaluation import EvalItem, EvaluationError, evaluate_modes, registered_modes
from inference.services.questions import question_help_record
from inference.services.stage2 import Stage2Error
from inference.services.stage2_backend import llm_backends_close


class Command(BaseCommand):
    help = (
        "Evaluate modes (bert, llm, llm_hint, rules, ...) on a JSONL gold file; prints tables, writes JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("gold_file", type=Path, nargs="?")
        parser.add_argument("--modes", default="rules", help="comma-separated mode names (default: rules)")
        parser.add_argument(
            "--source", default="", help='report source for import (default "gold:<file name>")'
        )
        parser.add_argument("--modality", default="", help="only this modality's lines")
        parser.add_argument("--limit", type=int, default=0, help="first N lines per modality (0: all)")
        parser.add_argument("--timeout", type=float, default=None, help="LLM seconds per report")
        parser.add_argument("--json", type=Path, default=None, help="where to write the JSON summary")
        parser.add_argument(
            "--ask-all-questions",
            action="store_true",
            help="combined: ask the LLM every type of question, not only the site's policy (to measure them)",
        )
        parser.add_argument(
            "--record-question-help",
            action="store_true",
            help="combined: store the measured help per question type as the site's (verified data)",
        )
        parser.add_argument("--list-modes", action="store_true", help="list the registered modes and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._handle(**options)
        finally:
            llm_backends_close()  # free the LLM now: no finaliser traceback at exit

    def _handle(self, **options: Any) -> None:
        modes_known = registered_modes()
        if options["list_modes"]:
            for name, spec in sorted(modes_known.items()):
                self.stdout.write(f"{name:12} {spec.description}")
            return
        path: Path | None = options["gold_file"]
        if path is None:
            raise CommandError("give a gold file (or --list-modes)")
        path = Path(path)
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        modes = [m.strip() for m in options["modes"].split(",") if m.strip()]
        unknown = [m for m in modes if m not in modes_known]
        if not modes or unknown:
            raise CommandError(
                f"unknown mode(s) {unknown or modes}; registered: {', '.join(sorted(modes_known))}"
            )
        source = options["source"] or f"gold:{path.name}"
        try:
            # The text may be left out for reports imported before (they are not imported again).
            records = gold_file_records(path, require=("id", "modality", "gold"))
        except GoldFileError as exc:
            raise CommandError(str(exc)) from None
        if options["modality"]:
            records = [r for r in records if r["modality"] == options["modality"]]
        if not records:
            raise CommandError("no gold lines to evaluate")
        self._import(path, source, records)
        reports = {
            r.external_id: r
            for r in Report.objects.current()
            .filter(source=source, external_id__in=[str(x["id"]) for x in records])
            .select_related("modality")
        }
        by_modality: dict[str, list[EvalItem]] = {}
        for record in records:
            report = reports.get(str(record["id"]))
            if report is None:
                raise CommandError(f"report {record['id']} was not imported (see the import problems above)")
            by_modality.setdefault(report.modality.code, []).append(EvalItem(report, record["gold"]))
        summary: dict[str, Any] = {"gold_file": str(path), "source": source, "modes": modes, "modalities": {}}
        options_for_modes = {"timeout": options["timeout"], "ask_all_questions": options["ask_all_questions"]}
        for code, items in sorted(by_modality.items()):
            if options["limit"]:
                items = items[: options["limit"]]
            self.stdout.write(f"\n=== {code}: {len(items)} report(s) ===")
            try:
                result = evaluate_modes(
                    items=items, modes=modes, options=options_for_modes, progress=self._progress
                )
            except (EvaluationError, Stage2Error, LLMError) as exc:
                raise CommandError(f"{code}: {exc}") from exc
            summary["modalities"][code] = result
            for mode, scores in result["modes"].items():
                self._print_mode(code, mode, scores)
                if scores.get("questions") and options["record_question_help"]:
                    changed = question_help_record(
                        help=scores["questions"], gold=path.name, reports=len(items)
                    )
                    self.stdout.write(
                        f"question help recorded as the site's; settings changed: {changed or 'none'}"
                    )
        out = options["json"] or Path(settings.DATA_DIR) / "eval" / f"{path.stem}.json"
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        self.stdout.write(f"\nJSON summary: {out}")

    def _import(self, path: Path, source: str, records: list[dict[str, Any]]) -> None:
        ids = [str(r["id"]) for r in records]
        have = set(
            Report.objects.filter(source=source, external_id__in=ids).values_list("external_id", flat=True)
        )
        if len(have) == len(set(ids)):
            return
        result = reports_import(path=path, fmt="jsonl", source=source, on_duplicate="skip")
        for problem in result.problems[:20]:
            self.stderr.write(str(problem))
        if not result.ok:
            raise CommandError(f"import of {path} failed: {result.summary()}")
        self.stderr.write(f"imported: {result.summary()}")

    def _progress(self, mode: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            self.stderr.write(f"  {mode}: {done}/{total}")

    def _print_mode(self, modality: str, mode: str, scores: dict[str, Any]) -> None:
        w = self.stdout.write
        rep = scores["entity"]["report"]
        w(f"\n--- {modality} / {mode}: {scores['description']} ---")
        w(
            f"failed: {scores['failed']}   seconds/report: {_f(scores['seconds_per_report'], 3)}"
            + (f"   first error: {scores['errors'][0][:120]}" if scores["errors"] else "")
        )
        w("Entity keys (report level)")
        w(f"  {'accuracy':>9} {'precision':>9} {'recall':>9} {'f1':>9} {'specif.':>9}")
        w(
            f"  {_p(rep['accuracy']):>9} {_p(rep['precision']):>9} {_p(rep['recall']):>9} "
            f"{_p(rep['f1']):>9} {_p(rep['specificity']):>9}"
        )
        self._key_table(scores["entity"])
        if "entity_non_tumor" in scores:
            w("Non-tumor detail keys")
            self._key_table(scores["entity_non_tumor"])
        if scores.get("questions"):
            w("LLM questions (asked, answered with a quote, changed, right, wrong)")
            for kind, q in scores["questions"].items():
                w(
                    f"  {kind:28} {q['asked']:>5} {q['answered']:>5} {q['changed']:>5} {q['right']:>5} "
                    f"{q['wrong']:>5}  {'helps' if q['helps'] else '-'}"
                )
        relations = scores["relations"]
        if relations is None:
            w("Relations: not predicted by this mode")
            return
        w("Relations (per gold finding)")
        w(f"  {'key':28} {'n':>4} {'accuracy':>9} {'precision':>9} {'recall':>9} {'f1':>9}")
        rows = [*relations["per_key"].items(), ("macro", relations["macro"]), ("micro", relations["micro"])]
        for key, s in rows:
            w(
                f"  {key[:28]:28} {s['n']:>4} {_p(s['accuracy']):>9} {_p(s['precision']):>9} "
                f"{_p(s['recall']):>9} {_p(s['f1']):>9}"
            )

    def _key_table(self, entity: dict[str, Any]) -> None:
        w = self.stdout.write
        w(f"  {'key':28} {'support':>7} {'precision':>9} {'recall':>9} {'f1':>9} {'specif.':>9}")
        rows = list(entity["per_key"].items())
        for key, c in rows:
            w(
                f"  {key[:28]:28} {c['support']:>7} {_p(c['precision']):>9} {_p(c['recall']):>9} "
                f"{_p(c['f1']):>9} {_p(c['specificity']):>9}"
            )
        for name in ("micro", "macro"):
            a = entity[name]
            w(
                f"  {name:28} {'':>7} {_p(a['precision']):>9} {_p(a['recall']):>9} "
                f"{_p(a['f1']):>9} {_p(a['specificity']):>9}"
            )


def _p(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
