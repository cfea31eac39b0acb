"""Test data for stage 1: reports whose gold labels follow their keywords, a tiny
trained artefact, and registry rows pointing at it."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from annotations.models import Assignment, Mention, Report
from inference.models import ModelVersion
from tests.factories import UserFactory, entity_key, modality

# The key names are the default chest CT schema's; the phrases are what reports say.
PHRASES = {
    "nodule": "a small nodule",
    "consolidation": "patchy consolidation",
    "pleural effusion": "pleural effusion",
}
FILLER = [
    "Lungs are otherwise clear.",
    "Heart size is normal.",
    "No interval change.",
    "Mediastinum unremarkable.",
]


def report_make(
    *, external_id: str, text: str, source: str = "stage1-test", code: str = "chest_ct"
) -> Report:
    return Report.objects.create(
        source=source,
        external_id=external_id,
        patient_id=f"p-{external_id}",
        modality=modality(code),
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def gold_make(report: Report, present: dict[str, str], *, annotator=None) -> Assignment:  # type: ignore[no-untyped-def]
    """Imported gold for `report`: one mention per key, status "present", "negated"
    or "uncertain"; each key's phrase must occur in the text."""
    annotator = annotator or UserFactory(username="gold-loader")
    assignment = Assignment.objects.create(
        report=report, annotator=annotator, kind=Assignment.Kind.IMPORTED, status=Assignment.Status.SUBMITTED
    )
    for name, status in present.items():
        start = report.text.index(PHRASES[name])
        Mention.objects.create(
            report=report,
            assignment=assignment,
            key=entity_key(name),
            start=start,
            end=start + len(PHRASES[name]),
            negated=status == "negated",
            uncertain=status == "uncertain",
            created_by=annotator,
        )
    return assignment


def synthetic_text(rng: random.Random, present: list[str]) -> str:
    parts = [f"There is {PHRASES[k]}." for k in present] + rng.sample(FILLER, 2)
    rng.shuffle(parts)
    return " ".join(parts)


def gold_corpus(n: int, *, seed: int = 5, prefix: str = "g") -> list[Report]:
    """n chest CT reports with imported gold: each key present with probability 0.4."""
    rng = random.Random(seed)
    reports = []
    for i in range(n):
        present = [k for k in PHRASES if rng.random() < 0.4]
        report = report_make(external_id=f"{prefix}{i}", text=synthetic_text(rng, present))
        gold_make(report, dict.fromkeys(present, "present"))
        reports.append(report)
    return reports


def unlabelled_corpus(n: int, *, seed: int = 9, prefix: str = "u") -> list[Report]:
    rng = random.Random(seed)
    return [
        report_make(
            external_id=f"{prefix}{i}", text=synthetic_text(rng, [k for k in PHRASES if rng.random() < 0.4])
        )
        for i in range(n)
    ]


def version_make(
    *, artifact: Path | None, storage: Path, status: str = "ready", name: str = "", **kw
) -> ModelVersion:  # type: ignore[no-untyped-def]
    """A registry row; `artifact` (absolute) is stored relative to `storage` when inside it."""
    from inference.ml.bert import Stage1Predictor

    fields: dict[str, object] = {"status": status, "preset": "tiny"}
    if artifact is not None:
        manifest = Stage1Predictor.load(artifact).manifest
        fields.update(
            keys=list(manifest.keys),
            thresholds=dict(manifest.thresholds),
            artifact_path=str(artifact.relative_to(storage))
            if artifact.is_relative_to(storage)
            else str(artifact),
        )
    fields.update(kw)
    version = ModelVersion.objects.create(
        modality=modality("chest_ct"), name=name or f"v-{random.random()}", **fields
    )
    return version


_TINY: dict[str, Path] = {}


def tiny_artifact() -> Path:
    """A tiny classifier of the PHRASES keys, trained once per test process (seconds)
    into a temporary directory; copy it before pointing a version at it."""
    if "path" not in _TINY:
        import tempfile

        import numpy as np
        import torch

        from inference.ml.bert import LabelledSet, TrainConfig, finetune, get_preset

        rng = random.Random(3)
        keys = list(PHRASES)
        rows = [[rng.random() < 0.4 for _ in keys] for _ in range(160)]
        texts = [synthetic_text(rng, [k for k, on in zip(keys, row, strict=True) if on]) for row in rows]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            out = Path(tempfile.mkdtemp(prefix="stage1-tiny-")) / "model"
            finetune(
                LabelledSet(texts, np.array(rows, dtype=np.float32)),
                keys=keys,
                preset=get_preset("tiny"),
                out_dir=out,
                config=TrainConfig(epochs=8, batch_size=16, learning_rate=2e-3, patience=3, seed=3),
            )
        finally:
            torch.set_num_threads(threads)
        _TINY["path"] = out
    return _TINY["path"]


def installed_artifact(storage: Path, name: str = "chest_ct/v-test/model") -> Path:
    """A copy of the tiny artefact under `storage` (the test's MODEL_STORAGE_DIR)."""
    import shutil

    target = storage / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_artifact(), target)
    return target
