"""manage.py demo_corpus: the generator's corpus as a gold file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from demo.generator.corpus import generate_reports


def test_demo_corpus_command_writes_the_gold_file(tmp_path: Path):
    out = tmp_path / "demo.jsonl"
    stdout = io.StringIO()
    call_command("demo_corpus", out=str(out), n=25, seed=3, modality="brain_mri", stdout=stdout)

    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 25
    assert {r["modality"] for r in records} == {"brain_mri"}
    assert records == list(generate_reports(n=25, seed=3, modalities=("brain_mri",)))
    assert "wrote 25 reports" in stdout.getvalue()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("demo_corpus", out=str(out), n=0)
