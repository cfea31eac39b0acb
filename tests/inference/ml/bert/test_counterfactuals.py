"""Counterfactual training sentences (inference/ml/bert/counterfactuals.py) and how the
recipe uses them: near-miss phrases of other keys, organ words only as the corpus
writes them, targets from the rules on the variant, training reports only."""

from __future__ import annotations

import numpy as np
import pytest

from inference.ml.bert.counterfactuals import engine_counterfactuals
from inference.ml.bert.recipe import (
    GOLD,
    WEAK,
    RecipeConfig,
    RecipeReport,
    _examples,
    _variant_pool,
    engine_labeller,
)
from inference.ml.bert.windows import report_windows, sentence_windows
from inference.ml.defaults import default_lexicon
from inference.ml.engine import RuleEngine
from inference.ml.tokenizer import train_tokenizer

CORPUS = [
    "No pericardial effusion. Minimal pericardial effusion is seen.",
    "Pericardial effusion is not present. No pleural effusion.",
    "A thyroid nodule of 8 mm. Millimetric nodules in both lungs.",
]


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine.for_chest_ct(default_lexicon("chest_ct"))


def test_near_misses_are_other_keys_values_sharing_a_word(engine):
    variants = engine_counterfactuals(engine)
    near = variants.near_misses("pleural effusion", "pleural effusion")
    assert "pleural thickening" in near and "pleural plaque" in near
    assert not {"pleural effusion", "pleural effusions", "effusion"} & set(near)  # never its own key


def test_organ_words_come_only_from_the_corpus(engine):
    rng = np.random.default_rng(0)
    unseen = engine_counterfactuals(engine)  # no texts: no organ word learnt
    assert all("pericardial" not in v.lower() for v in unseen.of("Small bilateral pleural effusion.", rng))
    learnt = engine_counterfactuals(engine, texts=CORPUS)
    assert learnt.organs["pleural effusion"] == ["pericardial"]
    assert "nodule" not in learnt.organs  # one "thyroid nodule" is not how this corpus writes
    variants = learnt.of("Small bilateral pleural effusion.", rng)
    assert len(variants) == 2 and variants[1] == "Small bilateral pericardial effusion."
    assert variants[0].startswith("Small bilateral ") and "effusion" not in variants[0]


def test_a_sentence_without_an_inside_finding_has_no_variant(engine):
    variants = engine_counterfactuals(engine, texts=CORPUS)
    rng = np.random.default_rng(0)
    assert variants.of("Heart contour and size are normal.", rng) == []
    assert variants.of("Minimal pericardial effusion is seen.", rng) == []  # the rules set it aside


def test_variant_targets_are_the_rules_reading_of_the_variant(engine):
    keys = ["pleural effusion", "pleural thickening", "nodule"]
    texts = [f"Report {i}. Small bilateral pleural effusion. Heart is normal." for i in range(4)]
    reports = [
        RecipeReport(f"r{i}", t, GOLD if i == 0 else WEAK, frozenset({"pleural effusion"}))
        for i, t in enumerate(texts)
    ]
    tokenizer = train_tokenizer([*texts, *CORPUS] * 5, vocab_size=300)
    config = RecipeConfig(window_tokens=64, overlap_tokens=16)
    labeller = engine_labeller(engine)
    windows = report_windows(tokenizer, texts, window_tokens=64, overlap_tokens=16)
    sentences = sentence_windows(tokenizer, texts, window_tokens=64, overlap_tokens=16)
    examples = _examples(reports, windows, sentences, keys, labeller, config)
    counterfactuals = engine_counterfactuals(engine, texts=CORPUS)
    pool = _variant_pool(examples, [1, 2], tokenizer, counterfactuals, labeller, keys, config, 64)
    assert pool and {i for i, _ in pool} == {1, 2}  # report 0 (not in train_idx) is never varied
    column = {k: i for i, k in enumerate(keys)}
    readings = [(targets, weights) for variants in pool.values() for _, targets, weights in variants]
    assert len(readings) == 4  # two variants of the effusion sentence of each training report
    effusion = sorted(float(t[column["pleural effusion"]]) for t, _ in readings)
    assert effusion == [0.0, 0.0, 0.0, 0.0]  # no variant still says pleural effusion
    assert any(t[column["pleural thickening"]] == 1.0 for t, _ in readings)  # the near miss is read
    assert all(w.min() > 0 for _, w in readings)


def test_a_negated_finding_gets_a_variant_without_its_negation(engine):
    variants = engine_counterfactuals(engine)
    rng = np.random.default_rng(0)
    assert "Mass or nodule was detected in the lungs." in variants.of(
        "No mass or nodule was detected in the lungs.", rng
    )
    # "was not observed" is one trigger: the finding is left standing as a statement.
    assert "Bilateral pleural effusion." in variants.of("Bilateral pleural effusion was not observed.", rng)
    # An affirmed finding keeps its words: only near misses and organs vary it.
    assert all("detected" in v for v in variants.of("A nodule was detected in the lungs.", rng))
