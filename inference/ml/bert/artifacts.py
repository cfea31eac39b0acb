"""Self-describing artefact directories for the stage-1 classifier.

    <out_dir>/
      artifact.json        manifest: format, preset, hyper-parameters, label map (key2id,
                           id2key), thresholds, validation metrics, code version, timings
      model.safetensors    the whole classifier state dict (encoder + pooling + head)
      encoder/config.json  the encoder architecture (a Hugging Face config)
      tokenizer/           a PreTrainedTokenizerFast directory (see tokenizer.py)
      curves.json          loss per step, validation metrics per epoch
      data_snapshot.json   what the caller says the model was trained on (ids, sources, counts)

A directory is written under a hidden sibling name and renamed into place at the end,
so a crash or a cancelled job never leaves a half-written model where a loader looks.
Loading checks every part and raises ModelLoadError naming the path and what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from inference.ml.tokenizer import load_tokenizer, save_tokenizer

from .model import EnsembleClassifier, EntityKeyClassifier, encoder_from_config
from .train import TrainingCurves

FORMAT = "radreview-stage1-entity-keys"
# 2: `members` (an ensemble of cross-fitted classifiers in one weights file).
FORMAT_VERSION = 2
MANIFEST, WEIGHTS, ENCODER_DIR, TOKENIZER_DIR = "artifact.json", "model.safetensors", "encoder", "tokenizer"
CURVES, DATA_SNAPSHOT = "curves.json", "data_snapshot.json"
REQUIRED = (MANIFEST, WEIGHTS, f"{ENCODER_DIR}/config.json", TOKENIZER_DIR)


class ModelLoadError(Exception):
    """An artefact directory is missing, incomplete or corrupt; the message says which."""


@dataclass(slots=True)
class Manifest:
    """The contents of artifact.json. `keys` is id2key: logit i belongs to keys[i]."""

    keys: list[str]
    thresholds: dict[str, float]
    preset: dict[str, Any]
    train_config: dict[str, Any]
    max_len: int
    encoder: dict[str, Any] = field(default_factory=dict)
    tokenizer: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    # How a report is read: {} (the first max_len tokens) or {"mode": "windows",
    # "window_tokens", "overlap_tokens", "pool": "max"} (windows.py, the recipe's).
    reading: dict[str, Any] = field(default_factory=dict)
    # 1: one classifier; n: an EnsembleClassifier of n members sharing the tokenizer.
    members: int = 1
    code_version: str | None = None
    created_at: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def key2id(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.keys)}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["label_map"] = {"key2id": self.key2id, "id2key": dict(enumerate(self.keys))}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class LoadedArtifact:
    model: EntityKeyClassifier | EnsembleClassifier
    tokenizer: PreTrainedTokenizerBase
    manifest: Manifest
    path: Path


def save_artifact(
    out_dir: Path,
    *,
    model: EntityKeyClassifier | EnsembleClassifier,
    tokenizer: PreTrainedTokenizerBase,
    manifest: Manifest,
    curves: TrainingCurves,
    data_snapshot: dict[str, Any] | None,
) -> Path:
    """Write the artefact directory atomically; `out_dir` must not exist or be empty."""
    manifest.created_at = manifest.created_at or utc_now()
    manifest.code_version = manifest.code_version or code_version()
    with staged_directory(out_dir) as staging:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(staging / WEIGHTS), metadata={"format": FORMAT})
        model.encoder.config.save_pretrained(str(staging / ENCODER_DIR))
        save_tokenizer(tokenizer, staging / TOKENIZER_DIR)
        write_json(staging / CURVES, curves.to_dict())
        write_json(staging / DATA_SNAPSHOT, data_snapshot or {})
        write_json(staging / MANIFEST, manifest.to_dict())
    return out_dir


@contextmanager
def staged_directory(out_dir: Path) -> Iterator[Path]:
    """Yield a hidden sibling directory to fill; rename it to `out_dir` on success,
    delete it on any exception. `out_dir` must not exist or be empty (write-once)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} already holds files; model directories are write-once")
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_artifact(path: Path) -> LoadedArtifact:
    """Rebuild the classifier and tokenizer saved by `save_artifact` (eval mode)."""
    path = Path(path)
    _check_complete(path)
    manifest = _read_manifest(path)
    try:
        tokenizer = load_tokenizer(path / TOKENIZER_DIR)
    except Exception as exc:
        raise ModelLoadError(f"{path / TOKENIZER_DIR}: tokenizer cannot be loaded ({exc})") from exc
    try:
        encoder = encoder_from_config(path / ENCODER_DIR)
    except Exception as exc:
        raise ModelLoadError(f"{path / ENCODER_DIR}/config.json: encoder config is invalid ({exc})") from exc
    encoders = [encoder] + [encoder_from_config(path / ENCODER_DIR) for _ in range(manifest.members - 1)]
    classifiers = [EntityKeyClassifier(e, n_keys=len(manifest.keys)) for e in encoders]
    model = EnsembleClassifier(classifiers) if manifest.members > 1 else classifiers[0]
    _load_weights(model, path / WEIGHTS)
    model.eval()
    return LoadedArtifact(model=model, tokenizer=tokenizer, manifest=manifest, path=path)


def read_curves(path: Path) -> TrainingCurves:
    return TrainingCurves.from_dict(read_json(Path(path) / CURVES))


def read_data_snapshot(path: Path) -> dict[str, Any]:
    return dict(read_json(Path(path) / DATA_SNAPSHOT))


def _check_complete(path: Path) -> None:
    if not path.is_dir():
        raise ModelLoadError(f"model directory {path} does not exist or is not a directory")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise ModelLoadError(f"model directory {path} is incomplete: missing {', '.join(missing)}")


def _read_manifest(path: Path) -> Manifest:
    try:
        data = read_json(path / MANIFEST)
        manifest = Manifest.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"{path / MANIFEST} is corrupt: {exc}") from exc
    if manifest.format != FORMAT or manifest.format_version > FORMAT_VERSION:
        raise ModelLoadError(
            f"{path / MANIFEST} describes {manifest.format!r} version {manifest.format_version}; "
            f"this code reads {FORMAT!r} up to version {FORMAT_VERSION}"
        )
    if not manifest.keys or set(manifest.thresholds) != set(manifest.keys):
        raise ModelLoadError(f"{path / MANIFEST} is corrupt: keys and thresholds do not match")
    return manifest


def _load_weights(model: EntityKeyClassifier | EnsembleClassifier, weights: Path) -> None:
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise ModelLoadError(f"{weights} is corrupt or not a safetensors file ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{weights} does not fit the saved architecture ({exc})") from exc


def code_version() -> str | None:
    """The git commit this code runs from ("-dirty" if tracked files changed), or the
    RADREVIEW_CODE_VERSION environment variable where there is no git (containers)."""
    if os.environ.get("RADREVIEW_CODE_VERSION"):
        return os.environ["RADREVIEW_CODE_VERSION"]
    here = Path(__file__).resolve().parent
    try:
        commit = _git(here, "rev-parse", "HEAD")
        dirty = _git(here, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.strip()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
