"""The windows recipe (inference/ml/bert/recipe.py): whole reports read as sentence
windows, window-level targets from a labeller bounded by the report's labels,
resumable fine-tuning, gold-only calibration."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import numpy as np
import pytest

from inference.ml.bert import Stage1Predictor
from inference.ml.bert.crossfit import validation_folds
from inference.ml.bert.recipe import (
    GOLD,
    UNLABELLED,
    WEAK,
    Mention,
    RecipeConfig,
    RecipeReport,
    RecipeResult,
    train_recipe,
    window_targets,
)
from inference.ml.bert.windows import Window, report_windows
from inference.ml.tokenizer import train_tokenizer

KEYS = ["nodule", "effusion"]
FILLER = [
    "The trachea and both main bronchi are open.",
    "Heart contour and size are normal.",
    "The thoracic aorta diameter is normal.",
    "No enlarged lymph node is seen in the mediastinum.",
    "Upper abdominal organs are unremarkable.",
    "Bone structures are natural.",
]
TOY = RecipeConfig(
    preset="tiny",
    window_tokens=64,
    overlap_tokens=16,
    mlm_epochs=0,
    epochs=10,
    batch_reports=8,
    seed=3,
    learning_rate=2e-3,
    patience=10,
    members=3,  # three folds of the toy gold reports (the default, 5, would cut them thinner)
)


def toy_labeller(text: str) -> list[Mention]:
    """Keyword mentions; "No <key>" is negated (a sentence-level labeller, as the engine)."""
    out = []
    for key in KEYS:
        for hit in re.finditer(key, text, flags=re.IGNORECASE):
            negated = text[max(0, hit.start() - 3) : hit.start()].lower() == "no "
            out.append(Mention(hit.start(), key, "negated" if negated else "positive"))
    return out


def toy_reports(n: int, seed: int) -> list[RecipeReport]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sentences = rng.sample(FILLER, 3)
        present = set()
        for key in KEYS:
            roll = rng.random()
            if roll < 0.35:
                sentences.insert(rng.randrange(len(sentences) + 1), f"A small {key} is seen.")
                present.add(key)
            elif roll < 0.7:
                sentences.insert(rng.randrange(len(sentences) + 1), f"No {key} was detected.")
        source = GOLD if i % 3 == 0 else WEAK
        out.append(RecipeReport(f"r{i}", " ".join(sentences), source, frozenset(present)))
    return out


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecipeResult, list[str]]:
    import torch

    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("recipe")
    lines: list[str] = []
    result = train_recipe(
        toy_reports(150, seed=1),
        keys=KEYS,
        out_dir=work / "model",
        work_dir=work / "work",
        labeller=toy_labeller,
        config=TOY,
        log=lines.append,
    )
    return result, lines


def test_windowed_reading_gives_a_long_reports_last_sentence_a_say(recipe_run):
    result, _ = recipe_run
    predictor = Stage1Predictor.load(result.out_dir)
    long_normal = " ".join(FILLER[i % len(FILLER)] for i in range(40))  # ~10 windows of 64 tokens
    with_nodule = f"{long_normal} A small nodule is seen."
    normal, found = predictor.predict([long_normal, with_nodule])
    assert predictor.windowed and not found.truncated
    assert found.labels["nodule"] and not normal.labels["nodule"]
    assert found.probs["nodule"] > normal.probs["nodule"] + 0.2
    # The first max_len tokens alone would never have reached it.
    assert found.n_tokens > 4 * predictor.max_len


def test_the_recipe_learns_negation_from_window_targets(recipe_run):
    result, _ = recipe_run
    predictor = Stage1Predictor.load(result.out_dir)
    negated, present = predictor.predict(
        ["No effusion was detected. Heart contour and size are normal.", "A small effusion is seen."]
    )
    assert present.labels["effusion"] and not negated.labels["effusion"]


def test_thresholds_are_calibrated_on_gold_reports_only(recipe_run):
    result, lines = recipe_run
    assert result.metrics["validation_source"] == GOLD
    gold_ids = {r.id for r in toy_reports(150, seed=1) if r.source == GOLD}
    assert result.val_ids and set(result.val_ids) <= gold_ids
    assert result.manifest.reading["mode"] == "windows"
    assert set(result.metrics["validation"]["per_key"]["nodule"]) >= {"tp", "fp", "f1"}
    assert any("validating on" in line for line in lines)


def test_cross_fitted_members_calibrate_on_every_gold_report_out_of_fold(recipe_run):
    result, lines = recipe_run
    gold_ids = [r.id for r in toy_reports(150, seed=1) if r.source == GOLD]
    # 50 gold reports, 3 members: each gold report validates exactly one member.
    assert result.manifest.members == 3 and sorted(result.val_ids) == sorted(gold_ids)
    assert result.metrics["n_validation"] == len(gold_ids)
    assert sum("member 2 of 3: fine-tuning" in line for line in lines) == 1
    fp32 = Stage1Predictor.load(result.out_dir)
    int8 = Stage1Predictor.load(result.out_dir, quantize=True)
    texts = ["A small nodule is seen. No effusion was detected.", "A small effusion is seen."]
    assert [p.present_keys for p in fp32.predict(texts)] == [["nodule"], ["effusion"]]
    assert [p.present_keys for p in int8.predict(texts)] == [["nodule"], ["effusion"]]


def test_validation_folds_are_disjoint_seeded_and_cover_the_gold_reports():
    gold = list(range(5, 65))
    folds = validation_folds(gold, members=3, val_fraction=0.4, seed=1)
    assert len(folds) == 3 and sorted(i for f in folds for i in f) == gold
    assert all(len(f) == 20 for f in folds)
    assert folds == validation_folds(gold, members=3, val_fraction=0.4, seed=1)
    assert folds != validation_folds(gold, members=3, val_fraction=0.4, seed=2)
    # Too few gold reports for two folds of 10: one member, validated on val_fraction.
    [single] = validation_folds(list(range(15)), members=3, val_fraction=0.4, seed=13)
    assert len(single) == 6
    assert validation_folds([4], members=3, val_fraction=0.4, seed=13) == [[]]


def test_ensemble_logits_are_those_of_the_members_mean_probability():
    import torch

    from inference.ml.bert.config import get_preset
    from inference.ml.bert.model import EnsembleClassifier, EntityKeyClassifier, build_encoder

    torch.manual_seed(0)
    preset = get_preset("tiny")
    members = [
        EntityKeyClassifier(build_encoder(preset, vocab_size=50, pad_id=0), n_keys=2) for _ in range(2)
    ]
    ensemble = EnsembleClassifier(members).eval()
    ids, mask = torch.randint(1, 50, (3, 12)), torch.ones(3, 12, dtype=torch.long)
    with torch.no_grad():
        mean = torch.stack([torch.sigmoid(m.eval()(ids, mask)) for m in members]).mean(0)
        assert torch.allclose(torch.sigmoid(ensemble(ids, mask)), mean, atol=1e-6)


def test_a_cancelled_cross_fitted_run_keeps_its_finished_members(tmp_path: Path):
    import torch

    torch.set_num_threads(1)
    reports = toy_reports(60, seed=6)  # 20 gold: two members
    config = RecipeConfig(**{**TOY.to_dict(), "epochs": 2, "members": 2})

    def in_member_2(event):
        return event.step > event.total_steps // 2

    _stop_run(reports, config, tmp_path, in_member_2)
    assert (tmp_path / "w" / "member-0" / "member.pt").exists()
    result, steps, lines = _resumed_run(reports, config, tmp_path)
    assert "resuming: member 1 was already trained" in lines
    assert steps and min(steps) > max(steps) // 2  # only the second member's steps ran
    assert result.manifest.members == 2 and not (tmp_path / "w" / "member-0").exists()


def test_every_sentence_of_a_report_is_in_a_window_and_neighbours_overlap():
    text = " ".join(f"Sentence number {i} says the lung is clear." for i in range(30))
    tokenizer = train_tokenizer([text], vocab_size=300)
    [windows] = report_windows(tokenizer, [text], window_tokens=48, overlap_tokens=16)
    starts = [m.start() for m in re.finditer("Sentence", text)]
    assert len(windows) > 3 and all(len(w.ids) <= 48 for w in windows)
    assert all(any(w.holds(s) for w in windows) for s in starts)
    assert all(a.end > b.start for a, b in itertools.pairwise(windows))  # overlap


def _window(start: int, end: int) -> Window:
    return Window([2, 5, 3], start, end, ((start, end),))


def test_window_targets_follow_the_labeller_within_the_report_labels():
    windows = [_window(0, 10), _window(10, 20), _window(20, 30)]
    mentions = [
        Mention(2, "nodule", "positive"),
        Mention(12, "effusion", "negated"),
        Mention(22, "nodule", "negated"),
    ]
    targets, weights = window_targets(
        windows, mentions, KEYS, frozenset({"nodule"}), frozenset(), uncertain_weight=0.5
    )
    assert targets[:, 0].tolist() == [1.0, 0.0, 0.0] and weights[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert targets[:, 1].tolist() == [0.0, 0.0, 0.0] and weights[:, 1].tolist() == [1.0, 1.0, 1.0]
    # The report says effusion is present but no window affirms it: masked, report level only.
    _, weights = window_targets(windows, mentions, KEYS, frozenset(KEYS), frozenset(), uncertain_weight=0.5)
    assert weights[:, 1].tolist() == [0.0, 0.0, 0.0]
    # The report's label wins: a key it says is absent is 0 in every window.
    targets, _ = window_targets(windows, mentions, KEYS, frozenset(), frozenset(), uncertain_weight=0.5)
    assert not targets.any()
    # A hedged mention counts present at the hedge weight.
    hedged = [Mention(2, "nodule", "uncertain")]
    targets, weights = window_targets(
        windows, hedged, KEYS, frozenset({"nodule"}), frozenset(), uncertain_weight=0.5
    )
    assert targets[0, 0] == 1.0 and weights[0, 0] == 0.5


def test_the_recipe_refuses_a_corpus_without_gold(tmp_path: Path):
    reports = [r for r in toy_reports(30, seed=4) if r.source != GOLD]
    reports.append(RecipeReport("u1", "Unlabelled text of a report.", UNLABELLED))
    with pytest.raises(ValueError, match="gold"):
        train_recipe(
            reports, keys=KEYS, out_dir=tmp_path / "m", work_dir=tmp_path / "w", labeller=toy_labeller
        )
    with pytest.raises(ValueError, match="gold"):
        train_recipe([], keys=KEYS, out_dir=tmp_path / "m", work_dir=tmp_path / "w", labeller=toy_labeller)
    assert not (tmp_path / "m").exists()


class Stop(Exception):
    pass


def _stop_run(reports, config, tmp_path: Path, when) -> None:
    """A recipe run into tmp_path/w that is cancelled at the first fine-tuning step `when` holds."""

    def stop(event):
        if event.phase == "finetune" and when(event):
            raise Stop

    with pytest.raises(Stop):
        train_recipe(
            reports,
            keys=KEYS,
            out_dir=tmp_path / "m",
            work_dir=tmp_path / "w",
            labeller=toy_labeller,
            config=config,
            progress=stop,
        )


def _resumed_run(reports, config, tmp_path: Path):
    """The same run started again: its result, the fine-tuning steps it ran and its log."""
    lines: list[str] = []
    steps: list[int] = []
    result = train_recipe(
        reports,
        keys=KEYS,
        out_dir=tmp_path / "m",
        work_dir=tmp_path / "w",
        labeller=toy_labeller,
        config=config,
        progress=lambda e: steps.append(e.step) if e.phase == "finetune" else None,
        log=lines.append,
    )
    return result, steps, lines


def test_a_cancelled_recipe_resumes_from_its_last_epoch_checkpoint(tmp_path: Path):
    import torch

    torch.set_num_threads(1)
    reports = toy_reports(40, seed=5)
    config = RecipeConfig(**{**TOY.to_dict(), "epochs": 2})

    def in_epoch_2(event):
        return event.epoch == 2

    _stop_run(reports, config, tmp_path, in_epoch_2)
    assert not (tmp_path / "m").exists() and (tmp_path / "w" / "finetune_checkpoint.pt").exists()
    _, steps, lines = _resumed_run(reports, config, tmp_path)
    assert any(line.startswith("resuming fine-tuning after epoch 1") for line in lines)
    # Only epoch 2 ran again, continuing epoch 1's step count.
    assert steps[0] > 1 and steps == list(range(steps[0], steps[0] + len(steps)))
    assert Stage1Predictor.load(tmp_path / "m").windowed
    assert np.isfinite(list(Stage1Predictor.load(tmp_path / "m").thresholds)).all()
