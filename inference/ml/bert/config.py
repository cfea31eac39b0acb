"""Size presets, training hyper-parameters and seeding for the stage-1 BERT classifier.

Presets describe the encoder architecture only; `TrainConfig` holds everything that
shapes one training run. Both are frozen dataclasses that round-trip through JSON
(`asdict` / `from_dict`), so every artefact carries the exact values it was built with.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True, slots=True)
class BertPreset:
    """Encoder architecture. `vocab_size` is the BPE target; the model uses the real
    vocabulary size of the trained tokenizer, which may be smaller on a small corpus."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_len: int
    vocab_size: int
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.max_len < 8:
            raise ValueError("max_len must be at least 8 tokens")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BertPreset:
        return cls(**_known(cls, data))


PRESETS: dict[str, BertPreset] = {
    # For tests: trains in seconds, learns keyword-level tasks.
    "tiny": BertPreset(
        "tiny", hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, max_len=64, vocab_size=1000
    ),
    # The recipe's default (recipe.py): narrow and shallow, because it reads every
    # sentence window of every report (~4 per CT-RATE report) and must stay above 40 real
    # reports/s on 2 cores; dense window-level targets make up for the size.
    "cpu": BertPreset(
        "cpu", hidden_size=128, num_layers=2, num_heads=4, intermediate_size=512, max_len=128, vocab_size=6000
    ),
    # A 2-core laptop CPU: minutes on ~1,000 reports (measured ~21 s per 1,000 per epoch;
    # bench/stage1_bench.py).
    "small": BertPreset(
        "small",
        hidden_size=256,
        num_layers=4,
        num_heads=4,
        intermediate_size=1024,
        max_len=256,
        vocab_size=8000,
    ),
    # BERT-base, for a GPU.
    "base": BertPreset(
        "base",
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        intermediate_size=3072,
        max_len=512,
        vocab_size=32000,
    ),
}


def get_preset(name: str) -> BertPreset:
    """The preset called `name`; ValueError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters of one pretraining or fine-tuning run.

    `source_weights` scales each example's loss by its label source (e.g. weak labels
    count half as much as gold ones); sources missing from the map weigh 1.0.
    `max_steps` caps the run (0 = no cap), which tests and quick benchmarks use.
    `learning_rate` applies to the encoder, `head_learning_rate` to the layers fine-tuning
    adds on top of it (attention pooling, dense head); MLM pretraining uses only the first.
    The defaults suit the small preset (measured on the demo corpus: 1e-3 sometimes
    collapsed the encoder, 3e-4 learned slowly). For BERT-base or a site's clinical
    checkpoint start from the usual 2e-5..5e-5 for the encoder.
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 5e-4
    head_learning_rate: float | None = 3e-3  # None: same as learning_rate
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    seed: int = 13
    val_fraction: float = 0.15
    patience: int = 2
    mask_probability: float = 0.15
    max_steps: int = 0
    eval_batch_size: int = 64
    source_weights: dict[str, float] = field(default_factory=dict)
    device: str = "auto"  # "auto" = the GPU when torch sees one, else "cpu"; or "cuda:1" etc.

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**_known(cls, data))


def resolve_device(name: str) -> torch.device:
    """The torch device for a TrainConfig.device value."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_seed(seed: int) -> None:
    """Seed every random source training touches (Python, NumPy, torch)."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    # Libraries we call may draw from NumPy's global generator.
    np.random.seed(seed)
    torch.manual_seed(seed)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Drop keys a newer artefact may carry that this code does not know."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}
