"""The one segmentation: sentences (English, Korean, line breaks, abbreviations)
and the cheap boundary test assertion scopes use, which must agree with it."""

from hypothesis import given
from hypothesis import strategies as st

from inference.ml.defaults import default_ruleset
from inference.ml.text.patterns import fold
from inference.ml.text.segment import Segmenter, sentence_end_between

SEGMENTER = Segmenter()


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in SEGMENTER.sentences(text)]


def test_sentences_split_on_periods_after_korean_and_on_line_breaks():
    text = "우상엽에 결절이 있음. Nodule in RUL\nGGO in LLL 보임. End"
    assert sentences(text) == ["우상엽에 결절이 있음.", "Nodule in RUL", "GGO in LLL 보임.", "End"]


def test_side_abbreviations_do_not_end_a_sentence():
    text = "Nodule in Rt. upper lobe. GGO in Lt. lower lobe, approx. 2 cm."
    assert sentences(text) == ["Nodule in Rt. upper lobe.", "GGO in Lt. lower lobe, approx. 2 cm."]


def test_quote_marks_wrapped_lines_and_korean_predicates():
    assert sentences('Emphysema " Nodules in both lungs "') == ['Emphysema "', 'Nodules in both lungs "']
    assert sentences("No evidence of effusion or\nconsolidation.") == [
        "No evidence of effusion or\nconsolidation."
    ]
    assert sentences("결절 있음 흉수 없음.") == ["결절 있음", "흉수 없음."]


def test_headings_start_sections():
    segmenter = Segmenter(default_ruleset().sections)
    text = "FINDINGS:\nNodule in RUL.\n\nIMPRESSION:\nNodule."
    found = [(text[s.start : s.end], s.section) for s in segmenter.sentences(text)]
    assert found == [
        ("FINDINGS:", "findings"),
        ("Nodule in RUL.", "findings"),
        ("IMPRESSION:", "findings"),
        ("Nodule.", "impression"),
    ]


def test_boundary_test_between_offsets():
    text = "No effusion. Nodule in Rt. lung\nMass in the\nright lung"
    folded = fold(text)
    assert sentence_end_between(text, folded, 0, text.index("Nodule"))
    assert not sentence_end_between(text, folded, text.index("Nodule"), text.index("lung"))
    assert sentence_end_between(text, folded, text.index("lung"), text.index("Mass"))
    assert not sentence_end_between(text, folded, text.index("Mass"), len(text))  # a wrapped line


_ALPHABET = st.sampled_from([*'ab .!?\n"rt결음 ,', "Rt.", "e.g.", "있음 ", "\n\n"])


@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_the_boundary_test_agrees_with_the_sentences(text):
    """A boundary lies between the starts of consecutive sentences, and none inside
    a sentence before its last letter (the cheap test and the cut share their rules)."""
    spans = SEGMENTER.sentences(text)
    folded = fold(text)
    for i, s in enumerate(spans):
        last_letter = max(j for j in range(s.start, s.end) if text[j].isalnum())
        assert not sentence_end_between(text, folded, s.start, last_letter)
        if i + 1 < len(spans):
            assert sentence_end_between(text, folded, s.start, spans[i + 1].start)
