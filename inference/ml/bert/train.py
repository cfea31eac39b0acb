"""The training loop shared by MLM pretraining and fine-tuning.

Progress and cancellation: after every optimizer step the loop calls the caller's
`progress(ProgressEvent)`. The callback may raise any exception to cancel (the Django
wrapper raises `JobCancelled` when an admin pressed stop); the exception propagates
unchanged, between two steps, after the weights were updated consistently, and before
anything was written to the output directory, so a cancelled run leaves nothing behind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .config import TrainConfig


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One optimizer step done (or, with phase "validate", one validation pass done)."""

    phase: str  # "pretrain" | "finetune" | "validate"
    step: int
    total_steps: int
    epoch: int
    loss: float | None
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the average pace so far; None before the first step."""
        if self.step <= 0:
            return None
        return self.elapsed_s / self.step * max(self.total_steps - self.step, 0)


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(slots=True)
class TrainingCurves:
    """Loss per optimizer step and validation metrics per epoch, saved for plotting."""

    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingCurves:
        return cls(steps=list(data.get("steps", [])), epochs=list(data.get("epochs", [])))


class StepLoop:
    """Counts steps, records the loss curve, reports progress, honours max_steps."""

    def __init__(self, *, phase: str, total_steps: int, progress: ProgressCallback | None) -> None:
        self.phase = phase
        self.total_steps = total_steps
        self.progress = progress
        self.curves = TrainingCurves()
        self.step = 0
        self.examples = 0
        self.started = time.perf_counter()

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def after_step(self, *, loss: float, epoch: int, lr: float, examples: int) -> None:
        self.step += 1
        self.examples += examples
        self.curves.steps.append({"step": self.step, "epoch": epoch, "loss": loss, "lr": lr})
        self._report(epoch=epoch, loss=loss, phase=self.phase)

    def after_validation(self, *, epoch: int, metrics: dict[str, Any]) -> None:
        self.curves.epochs.append({"epoch": epoch, "step": self.step, **metrics})
        self._report(epoch=epoch, loss=metrics.get("val_loss"), phase="validate")

    def _report(self, *, epoch: int, loss: float | None, phase: str) -> None:
        if self.progress is not None:
            event = ProgressEvent(phase, self.step, self.total_steps, epoch, loss, self.elapsed_s)
            self.progress(event)


def total_steps(n_batches: int, config: TrainConfig) -> int:
    steps = n_batches * config.epochs
    return min(steps, config.max_steps) if config.max_steps else steps


def make_optimizer(
    model: nn.Module, config: TrainConfig, steps: int, *, is_head: Callable[[str], bool] | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no decay on biases and LayerNorm, as BERT) with linear warmup and decay.

    Parameters for which `is_head(name)` is true (freshly initialised layers on top of an
    encoder) learn at `config.head_learning_rate`; the encoder at `config.learning_rate`.
    A rate high enough for the head can wreck an encoder: its token states collapse to
    one vector and the model predicts base rates (seen with 1e-3 on the small preset)."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        head = bool(is_head and is_head(name))
        groups.setdefault((head, param.ndim < 2 or "LayerNorm" in name), []).append(param)
    head_lr = config.head_learning_rate or config.learning_rate
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if head else config.learning_rate,
                "weight_decay": 0.0 if no_decay else config.weight_decay,
            }
            for (head, no_decay), params in groups.items()
        ]
    )
    warmup = max(1, math.ceil(steps * config.warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def run_epoch(
    model: nn.Module,
    batches: Sequence[list[int]],
    loss_of: Callable[[list[int]], torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    loop: StepLoop,
    epoch: int,
    grad_clip: float,
) -> None:
    """One pass over `batches` (lists of example indexes); `loss_of` builds a batch's loss."""
    model.train()
    for batch in batches:
        if loop.done:
            return
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(batch)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        loop.after_step(
            loss=float(loss.detach()), epoch=epoch, lr=float(scheduler.get_last_lr()[0]), examples=len(batch)
        )


class EarlyStopping:
    """Keeps the best weights by a validation loss; says stop after `patience` epochs
    without improvement."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0

    def update(self, loss: float, model: nn.Module, epoch: int) -> bool:
        """Record this epoch; returns True when training should stop."""
        if loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = loss, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def restore(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
