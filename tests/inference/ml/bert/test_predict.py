"""Inference from an artefact directory: reload fidelity, edge-case reports, clear errors."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.ml.bert import FinetuneResult, ModelLoadError, Stage1Predictor, load_artifact
from inference.ml.bert.artifacts import LoadedArtifact

from .toy import KEYS, ToyData

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def predictor(trained_dir: Path) -> Stage1Predictor:
    return Stage1Predictor.load(trained_dir)


def test_save_then_load_gives_identical_probabilities(
    trained: FinetuneResult, predictor: Stage1Predictor, toy_heldout: ToyData
) -> None:
    in_memory = Stage1Predictor(
        LoadedArtifact(
            model=trained.model, tokenizer=trained.tokenizer, manifest=trained.manifest, path=trained.out_dir
        )
    )
    before = torch.from_numpy(in_memory.predict_probs(toy_heldout.texts))
    after = torch.from_numpy(predictor.predict_probs(toy_heldout.texts))
    assert torch.allclose(before, after, atol=1e-6)


def test_results_come_back_in_input_order_whatever_the_batching(
    predictor: Stage1Predictor, toy_heldout: ToyData
) -> None:
    texts = toy_heldout.texts[:12]
    batched = predictor.predict(texts, batch_size=5)
    for text, result in zip(texts, batched, strict=True):
        single = predictor.predict_one(text)
        assert single.probs == pytest.approx(result.probs, abs=1e-5)
        assert single.labels == result.labels


@pytest.mark.parametrize("text", ["", "   \n\t ", "*** ### ~~~"])
def test_empty_report_gives_a_valid_result_with_no_findings(predictor: Stage1Predictor, text: str) -> None:
    result = predictor.predict_one(text)
    assert set(result.probs) == set(KEYS) and not any(result.labels.values())
    assert all(result.probs[k] < predictor.manifest.thresholds[k] for k in KEYS)
    assert not result.truncated and result.warnings and "empty report" in result.warnings[0]


def test_100k_character_report_is_truncated_with_a_recorded_warning(
    predictor: Stage1Predictor, caplog: pytest.LogCaptureFixture
) -> None:
    text = ("Small nodule in the right upper lobe, stable. " * 2200)[:100_000]
    with caplog.at_level(logging.WARNING):
        [long_result, short_result] = predictor.predict([text, "small nodule."])
    assert long_result.truncated and long_result.n_tokens == predictor.max_len
    assert any("truncated" in w for w in long_result.warnings)
    assert "truncated" in caplog.text
    assert long_result.labels["nodule"]  # the part that was read is still classified
    assert not short_result.truncated and not short_result.warnings


def test_int8_quantized_predictor_agrees_with_fp32(
    trained_dir: Path, predictor: Stage1Predictor, toy_heldout: ToyData
) -> None:
    quantized = Stage1Predictor.load(trained_dir, quantize=True)
    fp32 = predictor.predict_probs(toy_heldout.texts)
    int8 = quantized.predict_probs(toy_heldout.texts)
    assert quantized.quantized and np.abs(fp32 - int8).max() < 0.1
    agree = (fp32 >= predictor.thresholds) == (int8 >= quantized.thresholds)
    assert agree.mean() > 0.95


def test_missing_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"does not exist") as info:
        Stage1Predictor.load(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


@pytest.mark.parametrize("part", ["model.safetensors", "artifact.json", "tokenizer", "encoder/config.json"])
def test_incomplete_directory_names_what_is_missing(trained_dir: Path, tmp_path: Path, part: str) -> None:
    broken = _copy(trained_dir, tmp_path)
    target = broken / part
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(ModelLoadError, match=f"incomplete: missing {part}") as info:
        load_artifact(broken)
    assert str(broken) in str(info.value)


@pytest.mark.parametrize(
    ("part", "content", "message"),
    [
        ("model.safetensors", b"\x00garbage", "model.safetensors is corrupt"),
        ("artifact.json", b"{not json", "artifact.json is corrupt"),
        ("artifact.json", b'{"format": "something-else", "keys": ["a"]}', "artifact.json is corrupt"),
        ("encoder/config.json", b"[]", "encoder config is invalid"),
    ],
)
def test_corrupt_directory_gives_a_clear_error(
    trained_dir: Path, tmp_path: Path, part: str, content: bytes, message: str
) -> None:
    broken = _copy(trained_dir, tmp_path)
    (broken / part).write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        Stage1Predictor.load(broken)


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(source, target)
    return target


def test_int8_is_refused_off_the_cpu(trained_dir: Path) -> None:
    with pytest.raises(ValueError, match="CPU only"):
        Stage1Predictor.load(trained_dir, quantize=True, device="cuda")
