"""Where a Korean word's particle starts (Kiwi), for trimming selections to the word."""

import pytest

from inference.ml.text import korean
from inference.ml.text.korean import particle_spans

pytest.importorskip("kiwipiepy")


def _trimmed(text: str) -> list[str]:
    return [text[a:b] for a, b in particle_spans(text)]


def test_a_particle_after_a_noun_is_found_with_code_point_offsets():
    text = "🫁 우상엽의 결절"  # an astral emoji first: offsets are code points, not UTF-16 units
    assert particle_spans(text) == [(5, 6)]
    assert text[2:5] == "우상엽"


def test_particles_after_latin_words_and_the_copula_with_its_ending_are_trimmed():
    assert _trimmed("RUL에 GGO가 있음") == ["에", "가"]
    assert _trimmed("좌하엽에서 경화") == ["에서"]
    assert _trimmed("결절입니다") == ["입니다"]


def test_a_verbs_ending_and_a_word_without_a_particle_are_left_alone():
    assert _trimmed("결절 보입니다") == []  # 보이 + ㅂ니다: the ending is fused into the stem
    assert _trimmed("증가했습니다") == []
    assert _trimmed("양측 폐 결절") == []


def test_text_without_hangul_never_starts_the_analyser(monkeypatch):
    def fail() -> None:
        raise AssertionError("Kiwi started for English text")

    monkeypatch.setattr(korean, "kiwi", fail)
    assert particle_spans("Small nodule in the RUL.") == []
