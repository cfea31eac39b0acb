"""Cross-fitted members of the windows recipe (recipe.py, docs/decisions.md): the gold
folds each member validates on, a finished member kept on disk so a restarted run
resumes at the member it was in, progress and curves of the members as one run, and the
thresholds chosen on every gold report's out-of-fold probability. No Django here."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inference.ml.metrics import entity_key_metrics, key_sets

from .finetune import DEFAULT_THRESHOLD, choose_thresholds
from .train import ProgressCallback, ProgressEvent, TrainingCurves

MEMBER_FILE = "member.pt"
# A cross-fitted member validates on at least this many gold reports; fewer gold reports
# than members x this train fewer members (one, below two folds' worth).
MIN_FOLD_GOLD = 10


def validation_folds(gold: Sequence[int], *, members: int, val_fraction: float, seed: int) -> list[list[int]]:
    """The gold validation split(s): one seeded `val_fraction` split for one member, or
    `members` disjoint seeded folds covering every gold report (fewer when there are not
    MIN_FOLD_GOLD gold reports per fold). [[]] without two gold reports."""
    if len(gold) < 2:
        return [[]]
    rng = np.random.default_rng(seed)
    order = rng.permutation(list(gold)).tolist()
    k = min(members, len(gold) // MIN_FOLD_GOLD)
    if k < 2:
        n_val = max(1, round(len(gold) * val_fraction))
        return [sorted(order[:n_val])]
    return [sorted(order[j::k]) for j in range(k)]


@dataclass
class MemberResult:
    """A trained member: its validation reports' probabilities and its run's record."""

    val_probs: np.ndarray
    best_epoch: int
    epochs_run: int
    steps: int
    curves: TrainingCurves
    state: dict[str, torch.Tensor] | None = None


def save_member(
    member_dir: Path, model: nn.Module, done: MemberResult, val_ids: list[str], checkpoint_file: str
) -> None:
    """Keep a finished member (atomically) and drop its fine-tuning checkpoint."""
    state = {
        "state": model.state_dict(),
        "val_ids": val_ids,
        "val_probs": done.val_probs,
        "best_epoch": done.best_epoch,
        "epochs_run": done.epochs_run,
        "steps": done.steps,
        "curves": done.curves.to_dict(),
    }
    tmp = member_dir / f".{MEMBER_FILE}.partial-{os.getpid()}"
    torch.save(state, tmp)
    tmp.replace(member_dir / MEMBER_FILE)
    (member_dir / checkpoint_file).unlink(missing_ok=True)


def load_member(member_dir: Path, val_ids: list[str]) -> MemberResult | None:
    """A member a previous run finished for the same validation reports, or None."""
    path = member_dir / MEMBER_FILE
    if not path.exists():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("val_ids") != val_ids:
        return None
    return MemberResult(
        np.asarray(saved["val_probs"]),
        int(saved["best_epoch"]),
        int(saved["epochs_run"]),
        int(saved["steps"]),
        TrainingCurves.from_dict(saved["curves"]),
        saved["state"],
    )


def member_progress(
    progress: ProgressCallback | None, j: int, n: int, started: float
) -> ProgressCallback | None:
    """Member j's fine-tuning steps as steps of the whole run (n members, equal steps;
    elapsed time since `started`, the first member's start)."""
    if progress is None or n == 1:
        return progress

    def report(event: ProgressEvent) -> None:
        progress(
            ProgressEvent(
                event.phase,
                j * event.total_steps + event.step,
                n * event.total_steps,
                event.epoch,
                event.loss,
                time.perf_counter() - started,
            )
        )

    return report


def calibrate(
    probs: np.ndarray,
    targets: Sequence[np.ndarray],
    keys: Sequence[str],
    band: tuple[float, float],
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-key thresholds chosen within `band` on the gold validation reports' probabilities."""
    if not len(targets):
        return dict.fromkeys(keys, DEFAULT_THRESHOLD), {}
    gold = np.stack(targets)
    thresholds = choose_thresholds(probs, gold, band)
    pred = probs >= np.array(thresholds)[None, :]
    scores = entity_key_metrics(key_sets(gold, list(keys)), key_sets(pred, list(keys)), list(keys))
    return dict(zip(keys, thresholds, strict=True)), {
        "validation": scores.to_dict(),
        "n_validation": len(gold),
        "validation_source": "gold",
    }


def joined_curves(curves: Sequence[TrainingCurves]) -> TrainingCurves:
    """One member's curves, or every member's one after another (steps renumbered, each
    point naming its member)."""
    if len(curves) == 1:
        return curves[0]
    joined, offset = TrainingCurves(), 0
    for j, c in enumerate(curves):
        joined.steps += [{**point, "step": point["step"] + offset, "member": j} for point in c.steps]
        joined.epochs += [{**point, "step": point["step"] + offset, "member": j} for point in c.epochs]
        offset += int(c.steps[-1]["step"]) if c.steps else 0
    return joined
