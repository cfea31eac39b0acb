"""MLM pretraining and multi-label fine-tuning on tiny configurations."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean

import numpy as np
import pytest
from transformers import AutoModel

from inference.ml.bert import (
    FinetuneResult,
    LabelledSet,
    ProgressEvent,
    Stage1Predictor,
    TrainConfig,
    choose_thresholds,
    finetune,
    get_preset,
    pretrain_mlm,
    read_curves,
    read_data_snapshot,
)
from inference.ml.metrics import entity_key_metrics, key_sets
from inference.ml.tokenizer import load_tokenizer

from .toy import KEYS, TINY_FINETUNE, ToyData

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Cancelled(Exception):
    pass


def test_mlm_loss_decreases_and_output_is_a_checkpoint_finetune_can_start_from(
    tmp_path: Path, toy_train: ToyData
) -> None:
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=2e-3, patience=5)
    result = pretrain_mlm(
        toy_train.texts * 2, preset=get_preset("tiny"), out_dir=tmp_path / "mlm", config=config
    )
    losses = [step["loss"] for step in result.curves.steps]
    assert fmean(losses[-5:]) < fmean(losses[:5]) - 1.0
    val = [epoch["val_loss"] for epoch in result.curves.epochs]
    assert val[-1] < val[0] and result.best_val_loss == min(val)
    assert AutoModel.from_pretrained(str(tmp_path / "mlm"), local_files_only=True).config.hidden_size == 64
    assert (
        len(load_tokenizer(tmp_path / "mlm"))
        == AutoModel.from_config(
            AutoModel.from_pretrained(str(tmp_path / "mlm"), local_files_only=True).config
        ).config.vocab_size
    )

    data = LabelledSet(toy_train.texts[:40], toy_train.labels[:40])
    tuned = finetune(
        data,
        keys=KEYS,
        preset=get_preset("tiny"),
        encoder_dir=tmp_path / "mlm",
        out_dir=tmp_path / "ft",
        config=TrainConfig(max_steps=3, batch_size=8),
    )
    assert tuned.manifest.encoder["init"] == "checkpoint" and tuned.steps == 3


def test_finetune_reaches_high_macro_f1_on_heldout_split(trained_dir: Path, toy_heldout: ToyData) -> None:
    predictor = Stage1Predictor.load(trained_dir)
    predictions = predictor.predict(toy_heldout.texts)
    scores = entity_key_metrics(
        key_sets(toy_heldout.labels, KEYS), [set(p.present_keys) for p in predictions], KEYS
    )
    assert scores.macro.f1 is not None and scores.macro.f1 > 0.9
    assert scores.report.accuracy is not None and scores.report.accuracy > 0.8


def test_artifact_describes_itself(trained: FinetuneResult) -> None:
    manifest = trained.manifest
    assert manifest.keys == KEYS and set(manifest.thresholds) == set(KEYS)
    assert manifest.to_dict()["label_map"]["key2id"] == {"nodule": 0, "effusion": 1, "atelectasis": 2}
    assert manifest.preset["name"] == "tiny" and manifest.train_config["learning_rate"] == 2e-3
    assert manifest.training["source_counts"] == {"gold": 150, "weak": 50}
    assert manifest.training["n_train"] + manifest.training["n_validation"] == 200
    assert manifest.metrics["validation"]["macro"]["f1"] > 0.8
    assert manifest.code_version  # this test runs inside the git checkout
    curves = read_curves(trained.out_dir)
    assert len(curves.steps) == trained.steps and all("loss" in step for step in curves.steps)
    assert curves.epochs and "val_loss" in curves.epochs[0]
    snapshot = read_data_snapshot(trained.out_dir)
    assert snapshot["label_sources"] == {"gold": 150, "weak": 50}
    assert len(snapshot["validation_ids"]) == manifest.training["n_validation"] == 30


@pytest.mark.parametrize("phase", ["pretrain", "finetune"])
def test_progress_callback_can_cancel_between_steps_and_nothing_is_written(
    tmp_path: Path, toy_train: ToyData, phase: str
) -> None:
    events: list[ProgressEvent] = []

    def progress(event: ProgressEvent) -> None:
        events.append(event)
        if event.step == 3:
            raise Cancelled

    config = TrainConfig(epochs=2, batch_size=8)
    with pytest.raises(Cancelled):
        if phase == "pretrain":
            pretrain_mlm(
                toy_train.texts,
                preset=get_preset("tiny"),
                out_dir=tmp_path / "out",
                config=config,
                progress=progress,
            )
        else:
            data = LabelledSet(toy_train.texts, toy_train.labels)
            finetune(
                data,
                keys=KEYS,
                preset=get_preset("tiny"),
                out_dir=tmp_path / "out",
                config=config,
                progress=progress,
            )
    assert [e.step for e in events] == [1, 2, 3]
    assert all(e.phase == phase and e.total_steps > 3 and e.loss is not None for e in events)
    assert events[-1].eta_s is not None and events[-1].eta_s > 0
    assert list(tmp_path.iterdir()) == []  # no model, no half-written staging directory


def test_thresholds_maximise_f1_per_key_and_default_without_positives() -> None:
    probs = np.array([[0.9, 0.3, 0.8], [0.35, 0.2, 0.1], [0.1, 0.1, 0.6], [0.3, 0.25, 0.2]])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]])
    thresholds = choose_thresholds(probs, labels)
    # Key 0: any threshold in (0.30, 0.35] separates perfectly; nearest 0.5 is 0.35.
    assert thresholds[0] == pytest.approx(0.35)
    # Key 1: positives at 0.30 and 0.25, negatives at 0.20 and 0.10 -> (0.20, 0.25].
    assert thresholds[1] == pytest.approx(0.25)
    assert thresholds[2] == 0.5  # no positive: nothing to tune


def test_thresholds_stay_within_the_band() -> None:
    # Positives at 0.15 and 0.9, negatives below 0.1: the full grid picks (0.10, 0.15].
    probs = np.array([[0.9], [0.15], [0.08], [0.05]])
    labels = np.array([[1], [1], [0], [0]])
    assert choose_thresholds(probs, labels) == [pytest.approx(0.15)]
    # Within [0.3, 0.7] every threshold misses the 0.15 positive; nearest 0.5 wins the tie.
    assert choose_thresholds(probs, labels, (0.3, 0.7)) == [pytest.approx(0.5)]
    # A band that holds the F1-best threshold does not move it.
    probs = np.array([[0.9], [0.45], [0.4], [0.05]])
    labels = np.array([[1], [1], [0], [0]])
    assert choose_thresholds(probs, labels, (0.3, 0.7)) == [pytest.approx(0.45)]


def test_labelled_set_checks_shapes_and_weighs_sources() -> None:
    with pytest.raises(ValueError, match="labels must have shape"):
        LabelledSet(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="sources has 1 entries"):
        LabelledSet(["a", "b"], np.zeros((2, 2)), sources=["gold"])
    data = LabelledSet(
        ["a", "b", "c"], np.zeros((3, 1)), sources=["gold", "weak", "x"], weights=np.array([1, 1, 2])
    )
    assert data.example_weights({"weak": 0.5}).tolist() == [1.0, 0.5, 2.0]


def test_training_is_deterministic_for_a_seed(tmp_path: Path, toy_train: ToyData) -> None:
    data = LabelledSet(toy_train.texts[:48], toy_train.labels[:48])
    config = TrainConfig(max_steps=4, batch_size=8, seed=5)
    runs = [
        finetune(data, keys=KEYS, preset=get_preset("tiny"), out_dir=tmp_path / str(i), config=config)
        for i in range(2)
    ]
    assert [s["loss"] for s in read_curves(runs[0].out_dir).steps] == [
        s["loss"] for s in read_curves(runs[1].out_dir).steps
    ]


def test_tiny_finetune_config_is_what_the_fixture_uses() -> None:
    assert TINY_FINETUNE.epochs == 8  # the F1 test depends on this budget
