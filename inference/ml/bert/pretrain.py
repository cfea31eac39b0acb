"""Masked-LM pretraining of the encoder on unlabelled reports.

    result = pretrain_mlm(texts, preset=get_preset("small"), out_dir=Path("var/models/mlm-1"))
    finetune(..., encoder_dir=result.out_dir)

As the method: BERT's MLM objective without next-sentence prediction, 5% of the texts
held out, early stopping on the held-out MLM loss. From scratch, a byte-level BPE
tokenizer is first trained on the same texts; with `init_checkpoint` (a local directory
such as a site's clinical BERT) its own tokenizer and weights are the starting point.

The output directory is a plain Hugging Face checkpoint (config.json, model.safetensors,
tokenizer files) plus pretrain.json (curves, preset, hyper-parameters, code version),
so `finetune(encoder_dir=...)` and `AutoModel.from_pretrained` both read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from inference.ml.preprocess import normalize
from inference.ml.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer, uses_morphemes

from .artifacts import code_version, staged_directory, utc_now, write_json
from .config import BertPreset, TrainConfig, resolve_device, set_seed
from .data import collate, encode_texts, length_batches, mask_tokens, pad_id, split_indices
from .model import build_mlm, load_mlm, quiet_transformers
from .train import (
    EarlyStopping,
    ProgressCallback,
    StepLoop,
    TrainingCurves,
    make_optimizer,
    run_epoch,
    total_steps,
)

HOLDOUT_FRACTION = 0.05  # the method: "5% ... set aside as validation data for early stopping"
PRETRAIN_FILE = "pretrain.json"


@dataclass(frozen=True, slots=True)
class PretrainResult:
    out_dir: Path
    curves: TrainingCurves
    best_val_loss: float
    best_epoch: int
    steps: int
    elapsed_s: float
    examples_per_second: float
    stopped_early: bool


def pretrain_mlm(
    texts: Sequence[str],
    *,
    preset: BertPreset,
    out_dir: Path,
    config: TrainConfig | None = None,
    init_checkpoint: Path | None = None,
    morphemes: bool = False,
    progress: ProgressCallback | None = None,
) -> PretrainResult:
    """Pretrain with masked-LM and write a checkpoint directory to `out_dir`.

    `progress` is called after every step and every validation; raising from it cancels
    the run before anything is written. Needs at least 20 non-empty texts (1 held out)."""
    config = config or TrainConfig()
    set_seed(config.seed)
    tokenizer, model = _start(texts, preset=preset, init_checkpoint=init_checkpoint, morphemes=morphemes)
    # transformers wraps PreTrainedModel.to with functools.wraps(nn.Module.to), which
    # mypy reads as an unbound function wanting the model as its first argument.
    model.to(resolve_device(config.device))  # type: ignore[arg-type]
    max_len = min(preset.max_len, int(model.config.max_position_embeddings))
    ids = [seq for seq in encode_texts(tokenizer, texts, max_len=max_len).ids if len(seq) > 2]
    if len(ids) < 20:
        raise ValueError(f"MLM pretraining needs at least 20 non-empty texts, got {len(ids)}")
    train_idx, val_idx = split_indices(len(ids), HOLDOUT_FRACTION, config.seed)
    loop, stopper = _fit(model, tokenizer, ids, train_idx, val_idx, config=config, progress=progress)
    stopper.restore(model)
    model.cpu()
    result = PretrainResult(
        out_dir=out_dir,
        curves=loop.curves,
        best_val_loss=stopper.best_loss,
        best_epoch=stopper.best_epoch,
        steps=loop.step,
        elapsed_s=loop.elapsed_s,
        examples_per_second=loop.examples / max(loop.elapsed_s, 1e-9),
        stopped_early=stopper.bad_epochs >= stopper.patience,
    )
    _save(result, model, tokenizer, preset=preset, config=config, init_checkpoint=init_checkpoint)
    return result


def _start(
    texts: Sequence[str], *, preset: BertPreset, init_checkpoint: Path | None, morphemes: bool
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    if init_checkpoint is not None:
        return load_tokenizer(init_checkpoint), load_mlm(init_checkpoint)
    normalized = [normalize(text).text for text in texts]
    tokenizer = train_tokenizer(normalized, vocab_size=preset.vocab_size, morphemes=morphemes)
    return tokenizer, build_mlm(preset, vocab_size=len(tokenizer), pad_id=pad_id(tokenizer))


def _fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    ids: list[list[int]],
    train_idx: list[int],
    val_idx: list[int],
    *,
    config: TrainConfig,
    progress: ProgressCallback | None,
) -> tuple[StepLoop, EarlyStopping]:
    lengths = [len(ids[i]) for i in train_idx]
    n_batches = len(length_batches(lengths, config.batch_size, seed=0))
    steps = total_steps(n_batches, config)
    optimizer, scheduler = make_optimizer(model, config, steps)
    loop = StepLoop(phase="pretrain", total_steps=steps, progress=progress)
    stopper = EarlyStopping(config.patience)
    masks = torch.Generator().manual_seed(config.seed)  # dynamic masking: new masks each epoch

    def loss_of(batch: list[int]) -> torch.Tensor:
        seqs = [ids[train_idx[i]] for i in batch]
        return _masked_lm_loss(model, tokenizer, seqs, probability=config.mask_probability, generator=masks)[
            0
        ]

    for epoch in range(1, config.epochs + 1):
        batches = length_batches(lengths, config.batch_size, seed=config.seed + epoch)
        run_epoch(
            model,
            batches,
            loss_of,
            optimizer=optimizer,
            scheduler=scheduler,
            loop=loop,
            epoch=epoch,
            grad_clip=config.grad_clip,
        )
        val_loss = validation_loss(model, tokenizer, [ids[i] for i in val_idx], config=config)
        loop.after_validation(epoch=epoch, metrics={"val_loss": val_loss})
        if stopper.update(val_loss, model, epoch) or loop.done:
            break
    return loop, stopper


@torch.inference_mode()
def validation_loss(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ids: list[list[int]], *, config: TrainConfig
) -> float:
    """Mean MLM loss per masked token on held-out texts, with the same masks every
    epoch (a fixed generator) so epochs are compared on equal terms."""
    model.eval()
    masks = torch.Generator().manual_seed(config.seed + 1)
    total, count = 0.0, 0
    for batch in length_batches([len(seq) for seq in ids], config.eval_batch_size):
        seqs = [ids[i] for i in batch]
        loss, n = _masked_lm_loss(
            model, tokenizer, seqs, probability=config.mask_probability, generator=masks
        )
        total += float(loss) * n
        count += n
    return total / max(count, 1)


def _masked_lm_loss(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    seqs: list[list[int]],
    *,
    probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Mask a batch (on the CPU, where the generator lives) and return the model's mean
    loss over the masked tokens, with their count."""
    input_ids, attention = collate(seqs, pad_id(tokenizer))
    inputs, labels = mask_tokens(
        input_ids, attention, tokenizer=tokenizer, probability=probability, generator=generator
    )
    device = model.device
    out = model(input_ids=inputs.to(device), attention_mask=attention.to(device), labels=labels.to(device))
    return out.loss, int((labels != -100).sum())


def _save(
    result: PretrainResult,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    preset: BertPreset,
    config: TrainConfig,
    init_checkpoint: Path | None,
) -> None:
    record = {
        "created_at": utc_now(),
        "code_version": code_version(),
        "preset": preset.to_dict(),
        "train_config": config.to_dict(),
        "init_checkpoint": str(init_checkpoint) if init_checkpoint else None,
        "tokenizer": {"morphemes": uses_morphemes(tokenizer), "vocab_size": len(tokenizer)},
        "best_val_loss": result.best_val_loss,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "elapsed_s": result.elapsed_s,
        "stopped_early": result.stopped_early,
        "curves": result.curves.to_dict(),
    }
    with staged_directory(result.out_dir) as staging:
        with quiet_transformers():
            model.save_pretrained(str(staging))
        save_tokenizer(tokenizer, staging)
        write_json(staging / PRETRAIN_FILE, record)
