"""Toy data and one tiny model trained on it, shared by the stage 1 library tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from inference.ml.bert import FinetuneResult, LabelledSet, finetune, get_preset

from .toy import KEYS, TINY_FINETUNE, ToyData, make_toy_data


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
