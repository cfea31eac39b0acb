"""The byte-level BPE tokenizer: lossless on mixed Korean/English, with and without
morpheme-aware pre-tokenization, and the same after save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import PreTrainedTokenizerFast

from inference.ml.preprocess import normalize
from inference.ml.tokenizer import (
    PRETOKENIZATION_FILE,
    SPECIAL_TOKENS,
    load_tokenizer,
    morpheme_boundaries,
    save_tokenizer,
    train_tokenizer,
    uses_morphemes,
)

CORPUS = [
    "우측 흉막 삼출이 있었습니다. Small nodule in the RUL.",
    "간유리음영(GGO) 있음. No pleural effusion.",
    "좌하엽 무기폐, 이전 검사와 비교하여 변화 없음. Stable 5 mm nodule.",
    "Bronchiectasis in both lungs. 양측 폐에 기관지확장증.",
] * 10

MIXED = [
    "우측 흉막 삼출이 있었습니다. Small nodule in the RUL.",
    "했다 간유리음영(GGO) 3.5 cm, r/o mets? 15% <5 mm",
    "Unseen words: café, 結節, ½, Hodgkin's; 처음 보는 단어들입니다",
    "",
    "  double  spaces\tand\nnewlines (raw, not normalized)  ",
]


def _round_trip(tokenizer: PreTrainedTokenizerFast, text: str) -> str:
    decoded = tokenizer.decode(tokenizer.encode(text, add_special_tokens=False))
    assert isinstance(decoded, str)
    return decoded


@pytest.fixture(scope="module")
def plain() -> PreTrainedTokenizerFast:
    return train_tokenizer(CORPUS, vocab_size=400)


@pytest.fixture(scope="module")
def morphemic() -> PreTrainedTokenizerFast:
    pytest.importorskip("kiwipiepy")
    return train_tokenizer(CORPUS, vocab_size=400, morphemes=True)


@pytest.mark.parametrize("text", MIXED)
def test_round_trip_is_lossless_on_mixed_korean_english(plain: PreTrainedTokenizerFast, text: str) -> None:
    assert _round_trip(plain, text) == text
    assert _round_trip(plain, normalize(text).text) == normalize(text).text


@pytest.mark.parametrize("text", MIXED)
def test_round_trip_is_lossless_with_morphemes(morphemic: PreTrainedTokenizerFast, text: str) -> None:
    assert _round_trip(morphemic, text) == text


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("abc 우측흉막삼출이있었다.,()GGO-7\n\t😀é"), max_size=40))
def test_round_trip_holds_for_any_text_without_special_literals(text: str) -> None:
    tokenizer = train_tokenizer(CORPUS[:4], vocab_size=300)
    assert _round_trip(tokenizer, text) == text


def test_special_tokens_come_first_and_wrap_each_sequence(plain: PreTrainedTokenizerFast) -> None:
    assert plain.convert_ids_to_tokens(list(range(5))) == list(SPECIAL_TOKENS)
    ids = plain("nodule")["input_ids"]
    assert ids[0] == plain.cls_token_id and ids[-1] == plain.sep_token_id


def test_morphemes_split_hangul_stems_from_particles(morphemic: PreTrainedTokenizerFast) -> None:
    text = "흉막 삼출이 있었습니다"
    assert text.index("이") in morpheme_boundaries(text)
    assert morpheme_boundaries("Small nodule in the RUL.") == []
    pieces = [morphemic.decode([i]) for i in morphemic.encode(text, add_special_tokens=False)]
    assert "이" in pieces  # the particle is its own token, not merged into " 삼출이"


def test_saved_tokenizer_records_and_reapplies_morpheme_mode(
    tmp_path: Path, plain: PreTrainedTokenizerFast, morphemic: PreTrainedTokenizerFast
) -> None:
    for name, tokenizer in (("plain", plain), ("morphemic", morphemic)):
        save_tokenizer(tokenizer, tmp_path / name)
        loaded = load_tokenizer(tmp_path / name)
        assert uses_morphemes(loaded) is uses_morphemes(tokenizer)
        assert (tmp_path / name / PRETOKENIZATION_FILE).exists()
        for text in MIXED:
            assert loaded.encode(text) == tokenizer.encode(text)
        # The directory is an ordinary transformers tokenizer directory too.
        assert len(PreTrainedTokenizerFast.from_pretrained(str(tmp_path / name))) == len(tokenizer)
    assert uses_morphemes(morphemic) and not uses_morphemes(plain)
