"""Normalization for model input: the method's rules, and offsets that always
lead back to the right characters of the original."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from inference.ml.preprocess import KEPT_PUNCTUATION, NormalizedText, is_kept, normalize


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("", ""),
        ('*** ### ~~~ "" ^_^ | 😀', ""),
        ("   \r\n\t ", ""),
        ("Small nodule in the RUL/RML.", "Small nodule in the RUL/RML."),
        ("7mm nodule", "7mm nodule"),
        ("nodule (Se 3, Im 45)", "nodule (Se 3, Im 45)"),
        ("<5 mm nodules, 15% = stable; r/o mets? yes! Hodgkin's +", None),
        ("우상엽에 간유리음영(GGO) 있음.  No effusion.", "우상엽에 간유리음영(GGO) 있음. No effusion."),
        ("Line one.\r\nLine two.\r\n\r\nLine three.", "Line one. Line two. Line three."),
        ("FINDINGS:\n\t- nodule\n\t- mass", "FINDINGS: - nodule - mass"),
        ("stable 😀 follow up", "stable follow up"),
        ("a*b", "a b"),
        ("a\u00a0\u3000b", "a b"),
        ('"GGO" in *both* lungs', "GGO in both lungs"),
        ("\x00ctrl\x07chars\x1b", "ctrl chars"),
        ("café ﬁbrosis 結節 ½", "café ﬁbrosis 結節 ½"),
        ("cafe\u0301 e\u0301", "cafe\u0301 e\u0301"),  # decomposed accents stay in the word
        ("  leading and trailing  ", "leading and trailing"),
    ],
)
def test_normalize_removes_symbols_and_collapses_whitespace(original, expected):
    assert normalize(original).text == (original if expected is None else expected)


def test_kept_punctuation_is_the_documented_set():
    assert set(".,:;()/-%+'?!<>=") == KEPT_PUNCTUATION


def test_a_space_maps_to_the_first_character_of_its_run():
    original = "RUL:\r\n * nodule"
    nt = normalize(original)
    assert nt.text == "RUL: nodule"
    assert nt.offsets == (0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14)
    assert nt.to_original(5, 11) == (9, 15)
    assert original[slice(*nt.to_original(0, 11))] == "RUL:\r\n * nodule"


def test_mixed_korean_english_span_maps_back_to_the_original_characters():
    original = "  우상엽에\n\n간유리음영 (GGO)  ★ 있음"
    nt = normalize(original)
    assert nt.text == "우상엽에 간유리음영 (GGO) 있음"
    start = nt.text.index("간유리음영")
    a, b = nt.to_original(start, start + len("간유리음영"))
    assert original[a:b] == "간유리음영"
    assert nt.to_normalized(a, b) == (start, start + 5)


def test_to_normalized_is_none_for_a_span_of_separators_only():
    original = "nodule ***\n\n mass"
    nt = normalize(original)
    assert nt.to_normalized(7, 12) is None
    assert nt.to_normalized(6, 14) == (7, 8)  # only the "m" of "mass" is inside
    assert nt.to_normalized(0, 0) is None


def test_to_original_rejects_spans_outside_the_text():
    nt = normalize("a b")
    with pytest.raises(ValueError, match="outside"):
        nt.to_original(2, 4)
    with pytest.raises(ValueError, match="outside"):
        nt.to_original(2, 1)


def test_empty_spans_map_to_points():
    nt = normalize(" ab  cd ")
    assert nt.to_original(0, 0) == (1, 1)
    assert nt.to_original(5, 5) == (7, 7)


# --- properties on arbitrary Unicode text ---------------------------------------

# st.characters() covers every category except surrogates; the sampled characters
# make whitespace runs, symbol runs and Korean far more likely than chance would.
_chars = st.one_of(
    st.characters(),
    st.sampled_from(list(' \n\r\t\u00a0\u3000*#~"_^|😀.,()/-%<>=간유리음영GGO')),
)
_texts = st.text(_chars, max_size=80)


def _nonspace_span(nt: NormalizedText, data: st.DataObject) -> tuple[int, int] | None:
    positions = [i for i, c in enumerate(nt.text) if c != " "]
    if not positions:
        return None
    start = data.draw(st.sampled_from(positions))
    last = data.draw(st.sampled_from([p for p in positions if p >= start]))
    return start, last + 1


@given(_texts)
@example("a\r\n\r\nb")
@example("")
def test_text_has_single_spaces_only_between_words(original):
    text = normalize(original).text
    assert "  " not in text
    assert text == text.strip(" ")
    assert "\n" not in text
    assert "\r" not in text
    assert all(c == " " or is_kept(c) for c in text)


@given(_texts)
def test_offsets_are_one_per_character_and_strictly_increasing(original):
    nt = normalize(original)
    assert len(nt.offsets) == len(nt.text)
    assert all(a < b for a, b in zip(nt.offsets, nt.offsets[1:], strict=False))
    assert all(0 <= o < len(original) for o in nt.offsets)


@given(_texts)
def test_every_kept_character_is_the_original_character_at_its_offset(original):
    nt = normalize(original)
    for char, offset in zip(nt.text, nt.offsets, strict=True):
        if char == " ":  # stands for a run of separators starting here
            assert not is_kept(original[offset])
        else:
            assert original[offset] == char


@given(_texts, st.data())
def test_a_span_maps_to_an_original_span_that_normalizes_to_the_same_text(original, data):
    nt = normalize(original)
    span = _nonspace_span(nt, data)
    if span is None:
        return
    a, b = nt.to_original(*span)
    assert normalize(original[a:b]).text == nt.text[span[0] : span[1]]
    assert nt.to_normalized(a, b) == span


@given(_texts)
def test_normalize_is_idempotent(original):
    text = normalize(original).text
    again = normalize(text)
    assert again.text == text
    assert again.offsets == tuple(range(len(text)))
