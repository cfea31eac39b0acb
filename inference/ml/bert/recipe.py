"""The stage-1 training recipe for real reports on a CPU: site-corpus MLM, then
window-level fine-tuning on gold + weak labels, read whole.

    reports = [RecipeReport(id, text, source="gold" | "weak" | "unlabelled", present={...}), ...]
    result = train_recipe(reports, keys=keys, out_dir=Path(".../model"), work_dir=Path(".../work"),
                          labeller=engine_labeller(engine), config=RecipeConfig())
    Stage1Predictor.load(result.out_dir).predict(texts)   # reads windows, max over windows

1. Masked-LM pretraining (pretrain.py) on every report the site imported, labelled
   or not, cut into sentence chunks so the whole text is seen, not its first 128
   tokens. A byte-level BPE tokenizer is trained on the same chunks.
2. Every labelled report is read as sentence-aligned windows (windows.py). The rule
   engine (any `labeller`: text -> mentions with offsets and assertion status) is a
   sentence-level labeller, so each window gets its own targets: a key is 1 in a
   window holding a positive (or hedged) mention, 0 in one holding only negated or
   historical mentions or none. A report's labels (gold, or the stored weak labels)
   bound the windows' targets: a key absent from the report is 0 in every window; a
   key present where the labeller found no affirming mention has no window target
   (masked), only the report-level term.
3. The loss is the window-level BCE (masked, times the report's source weight) plus
   a report-level BCE on the max over the report's windows (multi-instance). Report
   level = max over windows at inference too.
4. Validation is on gold reports only. With `members` > 1 (the default, 5) the gold
   reports are cut into seeded folds and one member is fine-tuned per fold, validated on
   it (best epoch by its macro F1, thresholds tuned per epoch) and trained on everything
   else; per-key thresholds are chosen (within `threshold_band`) on every gold report's
   out-of-fold probability, and the classifier is the members' mean probability
   (model.EnsembleClassifier; crossfit.py keeps the folds, the finished members and the
   calibration). With one member (or fewer than MIN_FOLD_GOLD gold reports per fold), a
   seeded `val_fraction` split of the gold reports does both jobs.
5. A checkpoint (weights, optimizer, scheduler, epoch, best state, curves) is written
   after every epoch to `work_dir` (a member's own subdirectory); a finished member is
   kept there, so a restarted run continues from the last epoch of the member it was in.

No Django here; inference/services/stage1_training.py wraps it in a job.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
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
from .config import BertPreset, TrainConfig, get_preset, resolve_device, set_seed
from .counterfactuals import Counterfactuals
from .crossfit import (
    MemberResult,
    calibrate,
    joined_curves,
    load_member,
    member_progress,
    save_member,
    validation_folds,
)
from .data import collate, pad_id
from .finetune import DEFAULT_THRESHOLD, choose_thresholds
from .model import EnsembleClassifier, EntityKeyClassifier, build_encoder, load_encoder
from .pretrain import PRETRAIN_FILE, pretrain_mlm
from .train import ProgressCallback, StepLoop, TrainingCurves, make_optimizer
from .windows import Window, report_windows, sentence_spans, sentence_windows

GOLD, WEAK, UNLABELLED = "gold", "weak", "unlabelled"
READING_WINDOWS = "windows"
CHECKPOINT_FILE = "finetune_checkpoint.pt"
MLM_DIR = "mlm"
MLM_CHUNK_CHARS = 480  # ~110 tokens of English report text: one MLM example
AFFIRMED = ("positive", "uncertain")


@dataclass(frozen=True, slots=True)
class Mention:
    """One labeller mention: where it starts in the text, its key, its status
    (positive | uncertain | negated | historical)."""

    start: int
    key: str
    status: str


Labeller = Callable[[str], Sequence[Mention]]


@dataclass(frozen=True, slots=True)
class RecipeReport:
    """One report of the site's corpus; `source` is "gold", "weak", "approved" (clinician
    verified; weighs as gold, never validates) or "unlabelled" (MLM only). `present`: keys
    present (or hedged) in its labels; ignored for unlabelled reports. `uncertain`: the
    subset whose label is a hedge (counted at `uncertain_weight`)."""

    id: str
    text: str
    source: str
    present: frozenset[str] = frozenset()
    uncertain: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RecipeConfig:
    """Everything that shapes a recipe run. `preset` names the encoder size (config.PRESETS,
    plus "cpu"); `mlm_epochs` 0 skips pretraining."""

    preset: str = "cpu"
    window_tokens: int = 128
    overlap_tokens: int = 32
    mlm_epochs: int = 2
    mlm_learning_rate: float = 1e-3
    epochs: int = 10
    batch_reports: int = 8
    learning_rate: float = 1e-3
    head_learning_rate: float = 3e-3
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    weak_weight: float = 1.0
    uncertain_weight: float = 0.5
    report_loss_weight: float = 1.0
    # Recombined windows per real window and step: random sentences of the training
    # reports packed into a window, targets from their own sentences. More contexts for
    # each phrasing, and no co-occurrence to lean on ("pleural thickening" beside an effusion).
    recombined_ratio: float = 1.0
    # Share of a recombined window's sentences drawn as a counterfactual variant (one
    # finding phrase swapped for a near miss, relabelled by the rules; counterfactuals.py)
    # when the sentence has one: the phrase, not its neighbours, decides the key.
    counterfactual_share: float = 0.5
    # Gold validation share: 0.4 of 200 gold reports validates on 80, not 40 (a 40-report
    # split stopped a run at epoch 3 and picked extreme thresholds). patience = epochs: the
    # run is not stopped early, the best validation epoch is kept (docs/decisions.md).
    val_fraction: float = 0.4
    patience: int = 10
    # Cross-fitted members (docs/decisions.md): the gold reports are cut into `members`
    # folds; member j validates (best epoch) on fold j and trains on everything else, the
    # thresholds are chosen on every gold report's out-of-fold probability, and the model
    # is the members' mean probability. 1: one model, validated on `val_fraction` of gold.
    # 5 over 3: held-out 0.890-0.898 against 0.886-0.888 (two seeds each), 5/3 the cost.
    members: int = 5
    # The final per-key thresholds are searched within this band (docs/decisions.md): with
    # 5-16 positive gold reports per key the F1-best threshold outside it is one or two
    # reports' doing (0.81 and 0.12 seen), and it moved held-out F1 down, not up.
    threshold_band: tuple[float, float] = (0.3, 0.7)
    seed: int = 13
    max_steps: int = 0
    threads: int = 0  # 0: leave torch's setting
    morphemes: bool = False  # Korean: BPE over Kiwi morphemes (tokenizer.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecipeConfig:
        names = set(cls.__dataclass_fields__)
        known = {k: v for k, v in data.items() if k in names}
        if "threshold_band" in known:  # a list once it has been through JSON
            known["threshold_band"] = tuple(known["threshold_band"])
        return cls(**known)


def recipe_preset(name: str) -> BertPreset:
    return get_preset(name)


@dataclass(frozen=True)
class RecipeResult:
    out_dir: Path
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    manifest: Manifest
    elapsed_s: float
    val_ids: list[str]


def engine_labeller(engine: Any) -> Labeller:
    """A labeller from a RuleEngine: its mentions inside the report's subject (a
    thyroid nodule is not a lung nodule), with their assertion."""

    def label(text: str) -> list[Mention]:
        result = engine.extract(text)
        return [Mention(m.start, str(m.key), str(m.status)) for m in result.mentions if not m.outside]

    return label


def mlm_chunks(text: str, max_chars: int = MLM_CHUNK_CHARS) -> list[str]:
    """A report as consecutive runs of whole sentences of at most ~max_chars."""
    out: list[str] = []
    start = end = None
    for s, e in sentence_spans(text):
        if start is not None and end is not None and e - start > max_chars:
            out.append(text[start:end])
            start = None
        if start is None:
            start = s
        end = e
    if start is not None and end is not None:
        out.append(text[start:end])
    return out


# -- targets --------------------------------------------------------------------------------


@dataclass
class _Example:
    """One labelled report, windowed, with window- and report-level targets."""

    id: str
    source: str
    text: str
    windows: list[Window]
    window_targets: np.ndarray  # (W, K)
    window_weights: np.ndarray  # (W, K): 0 = masked
    report_targets: np.ndarray  # (K,)
    report_weights: np.ndarray  # (K,)
    sentences: list[Window]  # one per sentence, for recombined windows
    sentence_targets: np.ndarray  # (S, K)
    sentence_weights: np.ndarray  # (S, K)


def window_targets(
    windows: Sequence[Window],
    mentions: Sequence[Mention],
    keys: Sequence[str],
    present: frozenset[str],
    uncertain: frozenset[str],
    *,
    uncertain_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(targets, weights), each (n_windows, n_keys), as the module docstring says."""
    index = {k: i for i, k in enumerate(keys)}
    n, k = len(windows), len(keys)
    targets = np.zeros((n, k), dtype=np.float32)
    weights = np.ones((n, k), dtype=np.float32)
    affirmed = np.zeros((n, k), dtype=bool)  # a positive mention in the window
    hedged = np.zeros((n, k), dtype=bool)  # a hedged one
    for m in mentions:
        col = index.get(m.key)
        if col is None or m.status not in AFFIRMED:
            continue
        for w, window in enumerate(windows):
            if window.holds(m.start):
                targets[w, col] = 1.0
                (hedged if m.status == "uncertain" else affirmed)[w, col] = True
    for key, col in index.items():
        on = targets[:, col] > 0
        if key not in present:
            targets[:, col] = 0.0  # the report's label wins over the labeller
        elif not on.any():
            weights[:, col] = 0.0  # present, but no window known to say so: report level only
        elif key in uncertain:
            weights[on, col] = uncertain_weight
        else:
            weights[hedged[:, col] & ~affirmed[:, col], col] = uncertain_weight
    return targets, weights


def _examples(
    reports: Sequence[RecipeReport],
    windows: Sequence[list[Window]],
    sentences: Sequence[list[Window]],
    keys: Sequence[str],
    labeller: Labeller | None,
    config: RecipeConfig,
) -> list[_Example]:
    out = []
    for report, wins, sents in zip(reports, windows, sentences, strict=True):
        if not wins:
            continue
        mentions = labeller(report.text) if labeller is not None else []
        t, w = window_targets(
            wins, mentions, keys, report.present, report.uncertain, uncertain_weight=config.uncertain_weight
        )
        st, sw = window_targets(
            sents, mentions, keys, report.present, report.uncertain, uncertain_weight=config.uncertain_weight
        )
        source_weight = config.weak_weight if report.source == WEAK else 1.0
        rt = np.array([1.0 if key in report.present else 0.0 for key in keys], dtype=np.float32)
        rw = np.array(
            [config.uncertain_weight if key in report.uncertain else 1.0 for key in keys], dtype=np.float32
        )
        out.append(
            _Example(
                report.id,
                report.source,
                report.text,
                wins,
                t,
                w * source_weight,
                rt,
                rw * source_weight,
                sents,
                st,
                sw * source_weight,
            )
        )
    return out


# -- the run ------------------------------------------------------------------------------------


def train_recipe(
    reports: Sequence[RecipeReport],
    *,
    keys: Sequence[str],
    out_dir: Path,
    work_dir: Path,
    labeller: Labeller | None,
    config: RecipeConfig | None = None,
    counterfactuals: Counterfactuals | None = None,
    init_checkpoint: Path | None = None,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
    data_snapshot: dict[str, Any] | None = None,
) -> RecipeResult:
    """Run the recipe and write the classifier to `out_dir` (artifacts.py layout, with
    `reading` windows in its manifest). `work_dir` holds the MLM checkpoint and the
    fine-tuning checkpoint; a run restarted with the same work_dir resumes.
    `init_checkpoint`: a local Hugging Face encoder to start from (MLM continues from
    it when mlm_epochs > 0). Without MLM or a checkpoint the encoder starts from
    scratch with a tokenizer trained on the corpus. Raises ValueError when there is no
    gold report (thresholds are calibrated on gold only)."""
    config = config or RecipeConfig()
    say = log or (lambda _line: None)
    if config.threads:
        torch.set_num_threads(config.threads)
    labelled = [r for r in reports if r.source != UNLABELLED and r.text.strip()]
    if not any(r.source == GOLD for r in labelled):
        raise ValueError("the recipe needs gold reports: thresholds are calibrated on gold only")
    set_seed(config.seed)
    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    preset = recipe_preset(config.preset)
    encoder_dir = init_checkpoint
    if config.mlm_epochs > 0:
        encoder_dir = (
            _pretrain(reports, preset, config, work_dir, init_checkpoint, progress, say) or encoder_dir
        )
    if encoder_dir is not None:
        tokenizer, encoder = load_tokenizer(encoder_dir), load_encoder(encoder_dir)
    else:
        tokenizer, encoder = _fresh(reports, preset, config)
    window_tokens = min(config.window_tokens, preset.max_len, int(encoder.config.max_position_embeddings))
    windows = report_windows(
        tokenizer,
        [r.text for r in labelled],
        window_tokens=window_tokens,
        overlap_tokens=config.overlap_tokens,
    )
    sentences = sentence_windows(
        tokenizer,
        [r.text for r in labelled],
        window_tokens=window_tokens,
        overlap_tokens=config.overlap_tokens,
    )
    examples = _examples(labelled, windows, sentences, keys, labeller, config)
    gold = [i for i, e in enumerate(examples) if e.source == GOLD]
    folds = validation_folds(gold, members=config.members, val_fraction=config.val_fraction, seed=config.seed)
    device = resolve_device("auto")
    cross_fitted = len(folds) > 1
    variants: dict[tuple[int, int], list[_Variant]] = {}
    if counterfactuals is not None and labeller is not None and config.counterfactual_share > 0:
        # One member: its training reports only. Members: every labelled report once, each
        # member then keeps its own training reports' variants (never its validation's).
        held_out = set() if cross_fitted else set(folds[0])
        variants = _variant_pool(
            examples,
            [i for i in range(len(examples)) if i not in held_out],
            tokenizer,
            counterfactuals,
            labeller,
            keys,
            config,
            window_tokens,
        )
        if variants:
            say(f"counterfactual variants for {len(variants)} sentences")

    def new_encoder() -> PreTrainedModel:
        if encoder_dir is not None:
            return load_encoder(encoder_dir)
        return build_encoder(preset, vocab_size=len(tokenizer), pad_id=pad_id(tokenizer))

    finetune_started = time.perf_counter()
    members: list[EntityKeyClassifier] = []
    member_fits: list[MemberResult] = []
    for j, val_idx in enumerate(folds):
        held = set(val_idx)
        train_idx = [i for i in range(len(examples)) if i not in held]
        n_windows = sum(len(examples[i].windows) for i in train_idx)
        name = f"member {j + 1} of {len(folds)}: " if cross_fitted else ""
        say(
            f"{name}fine-tuning on {len(train_idx)} reports ({n_windows} windows), "
            f"validating on {len(val_idx)} gold reports"
        )
        member_dir = work_dir / f"member-{j}" if cross_fitted else work_dir
        member_dir.mkdir(parents=True, exist_ok=True)
        if cross_fitted:
            set_seed(config.seed + j)
        model = EntityKeyClassifier(
            encoder if j == 0 else new_encoder(), n_keys=len(keys), dropout=preset.dropout
        ).to(device)
        fit = _Fit(
            model,
            tokenizer,
            examples,
            train_idx,
            val_idx,
            keys,
            config,
            device,
            member_dir,
            member_progress(progress, j, len(folds), finetune_started),
            say,
            {k: v for k, v in variants.items() if k[0] not in held},
        )
        done = load_member(member_dir, [examples[i].id for i in val_idx]) if cross_fitted else None
        if done is None:
            fit.run()
            done = MemberResult(
                fit.report_probs(val_idx), fit.best_epoch, fit.epoch, fit.loop.step, fit.loop.curves
            )
            if cross_fitted:
                save_member(member_dir, model, done, [examples[i].id for i in val_idx], CHECKPOINT_FILE)
        elif done.state is not None:
            model.load_state_dict(done.state)
            say(f"resuming: member {j + 1} was already trained")
        members.append(model)
        member_fits.append(done)
    all_val = [i for fold in folds for i in fold]
    oof = np.concatenate([m.val_probs for m in member_fits]) if all_val else np.zeros((0, len(keys)))
    thresholds, metrics = calibrate(
        oof, [examples[i].report_targets for i in all_val], keys, config.threshold_band
    )
    if cross_fitted:
        metrics["validation_scheme"] = f"out-of-fold over {len(folds)} cross-fitted members"
    final: EntityKeyClassifier | EnsembleClassifier = (
        EnsembleClassifier(members) if cross_fitted else members[0]
    )
    manifest = Manifest(
        members=len(members),
        keys=list(keys),
        thresholds=thresholds,
        preset=preset.to_dict(),
        train_config=_train_config(config).to_dict(),
        max_len=window_tokens,
        metrics=metrics,
        reading={
            "mode": READING_WINDOWS,
            "window_tokens": window_tokens,
            "overlap_tokens": config.overlap_tokens,
            "pool": "max",
        },
    )
    manifest.encoder = {
        "init": "scratch" if encoder_dir is None else "checkpoint",
        "init_dir": str(encoder_dir) if encoder_dir else None,
        "model_type": str(encoder.config.model_type),
    }
    manifest.tokenizer = {"morphemes": uses_morphemes(tokenizer), "vocab_size": len(tokenizer)}
    manifest.training = {
        "recipe": config.to_dict(),
        "n_train": len(examples) - len(all_val) // len(folds),  # per member (one: its training split)
        "n_validation": len(all_val),
        "members": len(members),
        "n_windows": sum(len(e.windows) for e in examples),
        "source_counts": dict(Counter(e.source for e in examples)),
        "counterfactual_sentences": len(variants),
        "unlabelled_reports": sum(r.source == UNLABELLED for r in reports),
        "best_epoch": member_fits[0].best_epoch if not cross_fitted else [m.best_epoch for m in member_fits],
        "epochs_run": sum(m.epochs_run for m in member_fits),
        "steps": sum(m.steps for m in member_fits),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "device": str(device),
    }
    val_ids = [examples[i].id for i in all_val]
    save_artifact(
        out_dir,
        model=final.cpu().eval(),
        tokenizer=tokenizer,
        manifest=manifest,
        curves=joined_curves([m.curves for m in member_fits]),
        data_snapshot={**(data_snapshot or {}), "validation_ids": val_ids},
    )
    # The classifier is saved: the fine-tuning checkpoints (weights + optimizer) are not needed.
    (work_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    for j in range(len(folds) if cross_fitted else 0):
        shutil.rmtree(work_dir / f"member-{j}", ignore_errors=True)
    return RecipeResult(out_dir, thresholds, metrics, manifest, time.perf_counter() - started, val_ids)


_Variant = tuple[list[int], np.ndarray, np.ndarray]  # ids, targets (K,), weights (K,)


def _variant_pool(
    examples: Sequence[_Example],
    train_idx: Sequence[int],
    tokenizer: PreTrainedTokenizerBase,
    counterfactuals: Counterfactuals,
    labeller: Labeller,
    keys: Sequence[str],
    config: RecipeConfig,
    window_tokens: int,
) -> dict[tuple[int, int], list[_Variant]]:
    """(example index, sentence index) -> the sentence's counterfactual variants as
    model inputs, with the labeller's targets for each (training reports only: a
    validation report's text never shapes training)."""
    rng = np.random.default_rng(config.seed + 1)
    room = window_tokens - 2
    cls_sep = examples[train_idx[0]].windows[0].ids if train_idx else [0, 0]
    everything = frozenset(keys)
    wanted: list[tuple[tuple[int, int], str]] = []
    for i in train_idx:
        example = examples[i]
        seen: set[tuple[int, int]] = set()
        for s, sentence in enumerate(example.sentences):
            span = sentence.sentences[0]
            if span in seen:  # a long sentence's second chunk: varied once, by its first
                continue
            seen.add(span)
            for variant in counterfactuals.of(example.text[span[0] : span[1]], rng):
                wanted.append(((i, s), variant))
    if not wanted:
        return {}
    encoded = tokenizer([normalize(v).text for _, v in wanted], add_special_tokens=False)["input_ids"]
    out: dict[tuple[int, int], list[_Variant]] = {}
    for (where, variant), ids in zip(wanted, encoded, strict=True):
        if not ids or len(ids) > room:
            continue
        window = Window([cls_sep[0], *ids, cls_sep[-1]], 0, len(variant), ((0, len(variant)),))
        mentions = labeller(variant)
        # The rules alone label a variant: what they affirm is present, everything else absent.
        affirmed = frozenset(m.key for m in mentions if m.status in AFFIRMED) & everything
        targets, weights = window_targets(
            [window], mentions, keys, affirmed, frozenset(), uncertain_weight=config.uncertain_weight
        )
        out.setdefault(where, []).append((window.ids, targets[0], weights[0] * config.weak_weight))
    return out


def _train_config(config: RecipeConfig) -> TrainConfig:
    return TrainConfig(
        epochs=config.epochs,
        batch_size=config.batch_reports,
        learning_rate=config.learning_rate,
        head_learning_rate=config.head_learning_rate,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        seed=config.seed,
        val_fraction=config.val_fraction,
        patience=config.patience,
        max_steps=config.max_steps,
        source_weights={GOLD: 1.0, WEAK: config.weak_weight},
        device="cpu",
    )


def _fresh(
    reports: Sequence[RecipeReport], preset: BertPreset, config: RecipeConfig
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    chunks = [normalize(chunk).text for r in reports if r.text.strip() for chunk in mlm_chunks(r.text)]
    tokenizer = train_tokenizer(chunks, vocab_size=preset.vocab_size, morphemes=config.morphemes)
    return tokenizer, build_encoder(preset, vocab_size=len(tokenizer), pad_id=pad_id(tokenizer))


def _pretrain(
    reports: Sequence[RecipeReport],
    preset: BertPreset,
    config: RecipeConfig,
    work_dir: Path,
    init_checkpoint: Path | None,
    progress: ProgressCallback | None,
    say: Callable[[str], None],
) -> Path | None:
    mlm_dir = work_dir / MLM_DIR
    if (mlm_dir / PRETRAIN_FILE).exists():
        say("resuming: the masked-LM checkpoint is complete")
        return mlm_dir
    chunks = [chunk for r in reports if r.text.strip() for chunk in mlm_chunks(r.text)]
    if len(chunks) < 20:
        say(f"masked-LM pretraining skipped: only {len(chunks)} text chunks")
        return None
    say(f"masked-LM pretraining on {len(reports)} reports ({len(chunks)} sentence chunks)")
    mlm_config = TrainConfig(
        epochs=config.mlm_epochs,
        batch_size=32,
        learning_rate=config.mlm_learning_rate,
        patience=1,
        seed=config.seed,
        max_steps=config.max_steps,
        device="cpu",
    )
    result = pretrain_mlm(
        chunks,
        preset=preset,
        out_dir=mlm_dir,
        config=mlm_config,
        init_checkpoint=init_checkpoint,
        morphemes=config.morphemes,
        progress=progress,
    )
    say(f"pretraining done: validation loss {result.best_val_loss:.4f} (epoch {result.best_epoch})")
    return mlm_dir


class _Fit:
    """The fine-tuning loop with per-epoch checkpoints."""

    def __init__(
        self,
        model: EntityKeyClassifier,
        tokenizer: PreTrainedTokenizerBase,
        examples: list[_Example],
        train_idx: list[int],
        val_idx: list[int],
        keys: Sequence[str],
        config: RecipeConfig,
        device: torch.device,
        work_dir: Path,
        progress: ProgressCallback | None,
        say: Callable[[str], None],
        variants: dict[tuple[int, int], list[_Variant]] | None = None,
    ) -> None:
        self.model, self.tokenizer, self.examples = model, tokenizer, examples
        self.train_idx, self.val_idx, self.keys = train_idx, val_idx, list(keys)
        self.config, self.device, self.say = config, device, say
        self.pad = pad_id(tokenizer)
        self.checkpoint = work_dir / CHECKPOINT_FILE
        batches_per_epoch = math.ceil(len(train_idx) / config.batch_reports)
        steps = batches_per_epoch * config.epochs
        steps = min(steps, config.max_steps) if config.max_steps else steps
        self.optimizer, self.scheduler = make_optimizer(
            model, _train_config(config), steps, is_head=lambda name: not name.startswith("encoder.")
        )
        self.loop = StepLoop(phase="finetune", total_steps=steps, progress=progress)
        self.bce = nn.BCEWithLogitsLoss(reduction="none")
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.room = int(model.max_len) - 2
        self.pool = [(i, s) for i in train_idx for s in range(len(examples[i].sentences))]
        self.variants = variants or {}

    def _recombined(self, n: int, rng: np.random.Generator) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
        """n windows of random training sentences, each up to a window long; a key's
        target is the max over its sentences, its weight the min (a masked sentence masks).
        A sentence with counterfactual variants is read as one of them at
        `counterfactual_share`."""
        ids: list[list[int]] = []
        targets, weights = [], []
        cls_sep = self.examples[0].windows[0].ids
        cls_id, sep_id = cls_sep[0], cls_sep[-1]
        for _ in range(n):
            body: list[int] = []
            t = np.zeros(len(self.keys), dtype=np.float32)
            w = np.ones(len(self.keys), dtype=np.float32)
            while True:
                i, s = self.pool[int(rng.integers(len(self.pool)))]
                example = self.examples[i]
                variants = self.variants.get((i, s))
                if variants and rng.random() < self.config.counterfactual_share:
                    ids_, st, sw = variants[int(rng.integers(len(variants)))]
                else:
                    ids_, st, sw = (
                        example.sentences[s].ids,
                        example.sentence_targets[s],
                        example.sentence_weights[s],
                    )
                piece = ids_[1:-1]
                if body and len(body) + len(piece) > self.room:
                    break
                body.extend(piece[: self.room])
                t = np.maximum(t, st)
                w = np.minimum(w, sw)
                if len(body) >= self.room * 0.6:
                    break
            ids.append([cls_id, *body, sep_id])
            targets.append(t)
            weights.append(w)
        return ids, np.stack(targets), np.stack(weights)

    # -- checkpoints ---------------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "epoch": self.epoch,
            "step": self.loop.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "curves": self.loop.curves.to_dict(),
            "train_ids": [self.examples[i].id for i in self.train_idx],
        }
        tmp = self.checkpoint.with_name(f".{self.checkpoint.name}.partial-{os.getpid()}")
        torch.save(state, tmp)
        tmp.replace(self.checkpoint)

    def _resume(self) -> None:
        if not self.checkpoint.exists():
            return
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        if state.get("train_ids") != [self.examples[i].id for i in self.train_idx]:
            self.say("a fine-tuning checkpoint exists for other data; starting over")
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.loop.step = int(state["epoch"]), int(state["step"])
        self.best_score, self.best_epoch = float(state["best_score"]), int(state["best_epoch"])
        self.best_state, self.bad_epochs = state["best_state"], int(state["bad_epochs"])

        self.loop.curves = TrainingCurves.from_dict(state["curves"])
        self.say(f"resuming fine-tuning after epoch {self.epoch} (step {self.loop.step})")

    # -- training ------------------------------------------------------------------------------

    def run(self) -> None:
        self._resume()
        while (
            self.epoch < self.config.epochs and not self.loop.done and self.bad_epochs < self.config.patience
        ):
            self.epoch += 1
            self._epoch()
            if self.val_idx:
                score, metrics = self._validate()
                self.loop.after_validation(epoch=self.epoch, metrics=metrics)
                if score > self.best_score + 1e-9:
                    self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
                    self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                else:
                    self.bad_epochs += 1
            self._save()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def _epoch(self) -> None:
        self.model.train()
        rng = np.random.default_rng(self.config.seed + self.epoch)
        order = rng.permutation(self.train_idx).tolist()
        size = self.config.batch_reports
        for start in range(0, len(order), size):
            if self.loop.done:
                return
            batch = [self.examples[i] for i in order[start : start + size]]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(batch, rng)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.loop.after_step(
                loss=float(loss.detach()),
                epoch=self.epoch,
                lr=float(self.scheduler.get_last_lr()[0]),
                examples=len(batch),
            )

    def _loss(self, batch: list[_Example], rng: np.random.Generator) -> torch.Tensor:
        real = sum(len(e.windows) for e in batch)
        n_extra = round(real * self.config.recombined_ratio) if self.pool else 0
        extra_ids, extra_t, extra_w = self._recombined(n_extra, rng) if n_extra else ([], None, None)
        ids = [w.ids for e in batch for w in e.windows] + extra_ids
        input_ids, attention = collate(ids, self.pad, self.device)
        all_logits = self.model(input_ids, attention)
        logits = all_logits[:real]
        owner = torch.tensor([i for i, e in enumerate(batch) for _ in e.windows], device=self.device)
        targets = [e.window_targets for e in batch] + ([extra_t] if extra_t is not None else [])
        weights = [e.window_weights for e in batch] + ([extra_w] if extra_w is not None else [])
        wt = torch.as_tensor(np.concatenate(targets), device=self.device)
        ww = torch.as_tensor(np.concatenate(weights), device=self.device)
        window_loss = (self.bce(all_logits, wt) * ww).sum() / max(float(ww.gt(0).sum()), 1.0)
        report_logits = _max_by_owner(logits, owner, len(batch))
        rt = torch.as_tensor(np.stack([e.report_targets for e in batch]), device=self.device)
        rw = torch.as_tensor(np.stack([e.report_weights for e in batch]), device=self.device)
        report_loss = (self.bce(report_logits, rt) * rw).mean()
        loss: torch.Tensor = window_loss + self.config.report_loss_weight * report_loss
        return loss

    def _window_logits(self, batch: Sequence[_Example]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [w.ids for e in batch for w in e.windows]
        owner = torch.tensor([i for i, e in enumerate(batch) for _ in e.windows], device=self.device)
        input_ids, attention = collate(ids, self.pad, self.device)
        return self.model(input_ids, attention), owner

    @torch.inference_mode()
    def report_probs(self, idx: Sequence[int]) -> np.ndarray:
        self.model.eval()
        out = np.zeros((len(idx), len(self.keys)), dtype=np.float32)
        for start in range(0, len(idx), 32):
            batch = [self.examples[i] for i in idx[start : start + 32]]
            logits, owner = self._window_logits(batch)
            out[start : start + len(batch)] = (
                torch.sigmoid(_max_by_owner(logits, owner, len(batch))).cpu().numpy()
            )
        return out

    def _validate(self) -> tuple[float, dict[str, Any]]:
        probs = self.report_probs(self.val_idx)
        gold = np.stack([self.examples[i].report_targets for i in self.val_idx])
        thresholds = choose_thresholds(probs, gold)
        tuned = entity_key_metrics(
            key_sets(gold, self.keys), key_sets(probs >= np.array(thresholds), self.keys), self.keys
        )
        at_half = entity_key_metrics(
            key_sets(gold, self.keys), key_sets(probs >= DEFAULT_THRESHOLD, self.keys), self.keys
        )
        clipped = np.clip(probs, 1e-7, 1 - 1e-7)
        val_loss = float(-(gold * np.log(clipped) + (1 - gold) * np.log(1 - clipped)).mean())
        score = tuned.macro.f1 or 0.0
        self.say(
            f"epoch {self.epoch}: validation macro F1 {score:.4f} (at 0.5: {at_half.macro.f1 or 0.0:.4f})"
        )
        return score, {"val_loss": val_loss, "macro_f1_tuned": score, "macro_f1_at_0.5": at_half.macro.f1}


def _max_by_owner(logits: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """(n, K): per report, the max of its windows' logits."""
    out = torch.full(
        (n, logits.shape[1]), torch.finfo(logits.dtype).min, device=logits.device, dtype=logits.dtype
    )
    pooled: torch.Tensor = out.scatter_reduce(
        0, owner[:, None].expand_as(logits), logits, reduce="amax", include_self=True
    )
    return pooled


# Re-exported for callers that only need the recipe module.
__all__ = [
    "GOLD",
    "READING_WINDOWS",
    "UNLABELLED",
    "WEAK",
    "Labeller",
    "Mention",
    "RecipeConfig",
    "RecipeReport",
    "RecipeResult",
    "engine_labeller",
    "mlm_chunks",
    "recipe_preset",
    "train_recipe",
    "window_targets",
]
