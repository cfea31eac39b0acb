"""Multi-label fine-tuning of the stage-1 entity-key classifier.

    data = LabelledSet(texts, labels, sources=["gold", "weak", ...], ids=report_ids)
    result = finetune(data, keys=LESION_KEYS, preset=get_preset("small"),
                      encoder_dir=pretrained.out_dir, out_dir=Path("var/models/v7"))

Loss: binary cross-entropy per key, averaged over keys, times the example's weight
(`TrainConfig.source_weights[source]` times the optional explicit weight). A seeded
`val_fraction` of the examples is held out: early stopping on its loss keeps the best
epoch's weights, then per-key decision thresholds are chosen on it to maximise each
key's F1 (0.5 when the key has no positive there, since nothing can be tuned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from inference.ml.metrics import entity_key_metrics, key_sets
from inference.ml.preprocess import normalize
from inference.ml.tokenizer import load_tokenizer, train_tokenizer, uses_morphemes

from .artifacts import Manifest, save_artifact
from .config import BertPreset, TrainConfig, resolve_device, set_seed
from .data import collate, encode_texts, length_batches, pad_id, split_indices
from .model import EntityKeyClassifier, build_encoder, load_encoder
from .train import EarlyStopping, ProgressCallback, StepLoop, make_optimizer, run_epoch, total_steps

DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass(frozen=True)
class LabelledSet:
    """Texts with a 0/1 label matrix (n, n_keys) whose columns follow `keys` of finetune.

    `sources` names where each row's labels came from ("gold", "weak", "approved"...);
    `weights` are optional explicit per-row loss weights; `ids` identify the reports in
    the data snapshot and the validation split."""

    texts: Sequence[str]
    labels: np.ndarray
    sources: Sequence[str] | None = None
    weights: np.ndarray | None = None
    ids: Sequence[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.texts)
        if np.ndim(self.labels) != 2 or len(self.labels) != n:
            raise ValueError(f"labels must have shape (n_texts={n}, n_keys), got {np.shape(self.labels)}")
        for name in ("sources", "weights", "ids"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} texts")

    def __len__(self) -> int:
        return len(self.texts)

    def example_weights(self, source_weights: dict[str, float]) -> np.ndarray:
        weights = np.ones(len(self), dtype=np.float32)
        if self.sources is not None:
            weights *= np.array([source_weights.get(s, 1.0) for s in self.sources], dtype=np.float32)
        if self.weights is not None:
            weights *= np.asarray(self.weights, dtype=np.float32)
        return weights


@dataclass(frozen=True)
class FinetuneResult:
    """What a run produced. `model` (eval mode) and `tokenizer` are the objects that were
    saved, for callers that evaluate at once; `Stage1Predictor.load(out_dir)` is the
    normal way back."""

    out_dir: Path
    model: EntityKeyClassifier = field(repr=False)
    tokenizer: PreTrainedTokenizerBase = field(repr=False)
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    manifest: Manifest
    steps: int
    elapsed_s: float
    examples_per_second: float
    val_ids: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """What one fine-tuning run works on, prepared once."""

    tokenizer: PreTrainedTokenizerBase
    model: EntityKeyClassifier
    ids: list[list[int]]
    targets: torch.Tensor  # (n, K) float
    weights: torch.Tensor  # (n,)
    train_idx: list[int]
    val_idx: list[int]
    encoder_info: dict[str, Any]
    device: torch.device


def finetune(
    train: LabelledSet,
    *,
    keys: Sequence[str],
    preset: BertPreset,
    out_dir: Path,
    config: TrainConfig | None = None,
    encoder_dir: Path | None = None,
    morphemes: bool = False,
    progress: ProgressCallback | None = None,
    data_snapshot: dict[str, Any] | None = None,
) -> FinetuneResult:
    """Train, choose thresholds, write an artefact directory (see artifacts.py).

    `encoder_dir`: a pretrained checkpoint (ours from pretrain_mlm, or a site's); its
    tokenizer is used. Without it, a tokenizer is trained on `train.texts` and the
    encoder starts from scratch. Raising from `progress` cancels; nothing is written."""
    config = config or TrainConfig()
    if train.labels.shape[1] != len(keys):
        raise ValueError(f"labels have {train.labels.shape[1]} columns for {len(keys)} keys")
    set_seed(config.seed)
    run = _prepare(
        train, keys=keys, preset=preset, config=config, encoder_dir=encoder_dir, morphemes=morphemes
    )
    loop, stopper = _fit(run, config=config, progress=progress)
    stopper.restore(run.model)
    thresholds, metrics = _calibrate(run, keys=keys, config=config)
    manifest = Manifest(
        keys=list(keys),
        thresholds=thresholds,
        preset=preset.to_dict(),
        train_config=config.to_dict(),
        max_len=_max_len(preset, run.model.encoder),
        metrics=metrics,
    )
    _describe(manifest, run, train, loop, stopper)
    val_ids = [str(train.ids[i]) for i in run.val_idx] if train.ids is not None else []
    snapshot = {**(data_snapshot or {}), "validation_ids": val_ids}
    save_artifact(
        out_dir,
        model=run.model,
        tokenizer=run.tokenizer,
        manifest=manifest,
        curves=loop.curves,
        data_snapshot=snapshot,
    )
    return FinetuneResult(
        out_dir=out_dir,
        model=run.model.cpu().eval(),
        tokenizer=run.tokenizer,
        thresholds=thresholds,
        metrics=metrics,
        manifest=manifest,
        steps=loop.step,
        elapsed_s=loop.elapsed_s,
        examples_per_second=loop.examples / max(loop.elapsed_s, 1e-9),
        val_ids=val_ids,
    )


def choose_thresholds(
    probs: np.ndarray, labels: np.ndarray, band: tuple[float, float] = (0.05, 0.95)
) -> list[float]:
    """Per column, the grid threshold within `band` (0.05..0.95 by default) with the best
    F1 on (probs, labels); ties go to the threshold nearest 0.5; 0.5 for a column with no
    positive label."""
    low, high = band
    grid = THRESHOLD_GRID[np.abs(THRESHOLD_GRID - (low + high) / 2) <= (high - low) / 2 + 1e-9]
    chosen = []
    for k in range(labels.shape[1]):
        positive = labels[:, k] > 0.5
        if not positive.any():
            chosen.append(DEFAULT_THRESHOLD)
            continue
        predicted = probs[:, k][:, None] >= grid[None, :]  # (n, G)
        tp = (predicted & positive[:, None]).sum(0)
        f1 = 2 * tp / (predicted.sum(0) + positive.sum())  # 2TP / (2TP + FP + FN)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        chosen.append(float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]]))
    return chosen


def _prepare(
    train: LabelledSet,
    *,
    keys: Sequence[str],
    preset: BertPreset,
    config: TrainConfig,
    encoder_dir: Path | None,
    morphemes: bool,
) -> _Run:
    tokenizer, encoder, info = _start(
        train.texts, preset=preset, encoder_dir=encoder_dir, morphemes=morphemes
    )
    device = resolve_device(config.device)
    model = EntityKeyClassifier(encoder, n_keys=len(keys), dropout=preset.dropout).to(device)
    encoded = encode_texts(tokenizer, train.texts, max_len=_max_len(preset, encoder))
    train_idx, val_idx = split_indices(len(train), config.val_fraction, config.seed)
    return _Run(
        tokenizer=tokenizer,
        model=model,
        ids=encoded.ids,
        targets=torch.as_tensor(np.asarray(train.labels, dtype=np.float32)),
        weights=torch.as_tensor(train.example_weights(config.source_weights)),
        train_idx=train_idx,
        val_idx=val_idx,
        encoder_info=info,
        device=device,
    )


def _start(
    texts: Sequence[str], *, preset: BertPreset, encoder_dir: Path | None, morphemes: bool
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, dict[str, Any]]:
    if encoder_dir is not None:
        encoder = load_encoder(encoder_dir)
        info = {"init": "checkpoint", "init_dir": str(encoder_dir), "model_type": encoder.config.model_type}
        return load_tokenizer(encoder_dir), encoder, info
    normalized = [normalize(text).text for text in texts]
    tokenizer = train_tokenizer(normalized, vocab_size=preset.vocab_size, morphemes=morphemes)
    encoder = build_encoder(preset, vocab_size=len(tokenizer), pad_id=pad_id(tokenizer))
    return tokenizer, encoder, {"init": "scratch", "init_dir": None, "model_type": "bert"}


def _fit(
    run: _Run, *, config: TrainConfig, progress: ProgressCallback | None
) -> tuple[StepLoop, EarlyStopping]:
    lengths = [len(run.ids[i]) for i in run.train_idx]
    steps = total_steps(len(length_batches(lengths, config.batch_size, seed=0)), config)
    optimizer, scheduler = make_optimizer(
        run.model, config, steps, is_head=lambda name: not name.startswith("encoder.")
    )
    loop = StepLoop(phase="finetune", total_steps=steps, progress=progress)
    stopper = EarlyStopping(config.patience)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    pad = pad_id(run.tokenizer)

    def loss_of(batch: list[int]) -> torch.Tensor:
        rows = [run.train_idx[i] for i in batch]
        input_ids, attention = collate([run.ids[r] for r in rows], pad, run.device)
        targets, weights = run.targets[rows].to(run.device), run.weights[rows].to(run.device)
        per_example: torch.Tensor = bce(run.model(input_ids, attention), targets).mean(dim=1)  # (B,)
        # Divide by B, not by the weight sum, so that down-weighted weak labels really count less.
        return (per_example * weights).mean()

    for epoch in range(1, config.epochs + 1):
        batches = length_batches(lengths, config.batch_size, seed=config.seed + epoch)
        run_epoch(
            run.model,
            batches,
            loss_of,
            optimizer=optimizer,
            scheduler=scheduler,
            loop=loop,
            epoch=epoch,
            grad_clip=config.grad_clip,
        )
        if not run.val_idx:
            continue
        metrics = _epoch_metrics(run, config=config)
        loop.after_validation(epoch=epoch, metrics=metrics)
        if stopper.update(metrics["val_loss"], run.model, epoch) or loop.done:
            break
    return loop, stopper


def _epoch_metrics(run: _Run, *, config: TrainConfig) -> dict[str, Any]:
    probs = predict_probs(
        run.model, [run.ids[i] for i in run.val_idx], pad_id(run.tokenizer), batch_size=config.eval_batch_size
    )
    gold = run.targets[run.val_idx].numpy()
    clipped = np.clip(probs, 1e-7, 1 - 1e-7)
    val_loss = float(-(gold * np.log(clipped) + (1 - gold) * np.log(1 - clipped)).mean())
    keys = [str(k) for k in range(gold.shape[1])]
    scores = entity_key_metrics(key_sets(gold, keys), key_sets(probs >= DEFAULT_THRESHOLD, keys), keys)
    return {"val_loss": val_loss, "macro_f1_at_0.5": scores.macro.f1, "report_f1_at_0.5": scores.report.f1}


def _calibrate(
    run: _Run, *, keys: Sequence[str], config: TrainConfig
) -> tuple[dict[str, float], dict[str, Any]]:
    """Thresholds chosen on the validation split, and the metrics they give there."""
    if not run.val_idx:
        return dict.fromkeys(keys, DEFAULT_THRESHOLD), {}
    probs = predict_probs(
        run.model, [run.ids[i] for i in run.val_idx], pad_id(run.tokenizer), batch_size=config.eval_batch_size
    )
    gold = run.targets[run.val_idx].numpy()
    thresholds = choose_thresholds(probs, gold)
    pred = probs >= np.array(thresholds)[None, :]
    scores = entity_key_metrics(key_sets(gold, list(keys)), key_sets(pred, list(keys)), list(keys))
    return dict(zip(keys, thresholds, strict=True)), {
        "validation": scores.to_dict(),
        "n_validation": len(gold),
    }


@torch.inference_mode()
def predict_probs(
    model: EntityKeyClassifier, ids: list[list[int]], pad: int, *, batch_size: int
) -> np.ndarray:
    """Sigmoid probabilities (n, K) in input order, batched by length."""
    model.eval()
    device = next(model.parameters()).device
    out = np.zeros((len(ids), model.head.out_features), dtype=np.float32)
    for batch in length_batches([len(seq) for seq in ids], batch_size):
        input_ids, attention = collate([ids[i] for i in batch], pad, device)
        out[batch] = torch.sigmoid(model(input_ids, attention)).float().cpu().numpy()
    return out


def _max_len(preset: BertPreset, encoder: PreTrainedModel) -> int:
    return min(preset.max_len, int(encoder.config.max_position_embeddings))


def _describe(
    manifest: Manifest, run: _Run, train: LabelledSet, loop: StepLoop, stopper: EarlyStopping
) -> None:
    """Fill the manifest's encoder, tokenizer and training records."""
    manifest.encoder = run.encoder_info
    manifest.tokenizer = {"morphemes": uses_morphemes(run.tokenizer), "vocab_size": len(run.tokenizer)}
    positives = np.asarray(train.labels).sum(axis=0).astype(int).tolist()
    manifest.training = {
        "n_train": len(run.train_idx),
        "n_validation": len(run.val_idx),
        "source_counts": dict(Counter(train.sources or ["unspecified"] * len(train))),
        "positives_per_key": dict(zip(manifest.keys, positives, strict=True)),
        "steps": loop.step,
        "best_epoch": stopper.best_epoch,
        "epochs_run": loop.curves.epochs[-1]["epoch"] if loop.curves.epochs else None,
        "elapsed_s": round(loop.elapsed_s, 3),
        "examples_per_second": loop.examples / max(loop.elapsed_s, 1e-9),
        "device": str(run.device),
    }
