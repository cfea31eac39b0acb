"""Shared toy data and one tiny trained model for the stage-1 tests.

The synthetic task: a key is present exactly when one of its keywords (English or
Korean) occurs in the text, so a working pipeline must reach near-perfect F1 on it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.ml.bert import FinetuneResult, LabelledSet, TrainConfig, finetune, get_preset

KEYS = ["nodule", "effusion", "atelectasis"]
KEYWORDS = {
    "nodule": ["nodule", "결절"],
    "effusion": ["effusion", "흉막삼출"],
    "atelectasis": ["atelectasis", "무기폐"],
}
FILLER = "the lung shows mild change with no other finding in both upper lobes 소견 없음 stable 추적 검사"
TINY_FINETUNE = TrainConfig(epochs=8, batch_size=16, learning_rate=2e-3, patience=3, seed=3)


@dataclass(frozen=True)
class ToyData:
    texts: list[str]
    labels: np.ndarray


def make_toy_data(n: int, seed: int) -> ToyData:
    rng = random.Random(seed)
    texts, rows = [], []
    for _ in range(n):
        row = [rng.random() < 0.4 for _ in KEYS]
        words = rng.sample(FILLER.split(), 6)
        for key, present in zip(KEYS, row, strict=True):
            if present:
                words.insert(rng.randrange(len(words) + 1), rng.choice(KEYWORDS[key]))
        texts.append(" ".join(words) + ".")
        rows.append(row)
    return ToyData(texts, np.array(rows, dtype=np.float32))


@pytest.fixture(scope="session")
def one_torch_thread() -> Iterator[None]:
    # Two OpenMP threads on a busy 2-core machine spin against each other (10-20x
    # slower steps); one thread keeps the suite fast and its timings stable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_train() -> ToyData:
    return make_toy_data(200, seed=1)


@pytest.fixture(scope="session")
def toy_heldout() -> ToyData:
    return make_toy_data(60, seed=2)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, toy_train: ToyData, one_torch_thread: None
) -> FinetuneResult:
    """A tiny classifier fine-tuned from scratch on the toy task, saved once per session."""
    out = tmp_path_factory.mktemp("stage1") / "model"
    data = LabelledSet(
        toy_train.texts,
        toy_train.labels,
        sources=["gold"] * 150 + ["weak"] * 50,
        ids=[f"r{i}" for i in range(len(toy_train.texts))],
    )
    return finetune(
        data,
        keys=KEYS,
        preset=get_preset("tiny"),
        out_dir=out,
        config=TINY_FINETUNE,
        data_snapshot={"label_sources": {"gold": 150, "weak": 50}},
    )


@pytest.fixture(scope="session")
def trained_dir(trained: FinetuneResult) -> Path:
    return trained.out_dir
