"""The toy task of the stage 1 library tests (the fixtures: conftest.py).

The synthetic task: a key is present exactly when one of its keywords (English or
Korean) occurs in the text, so a working pipeline must reach near-perfect F1 on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from inference.ml.bert import TrainConfig

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
