from hypothesis import given
from hypothesis import strategies as st

from inference.ml.llm.mapping import locate_evidence

REPORT = (
    "FINDINGS:\nA  6 mm Nodule in the RUL (Se 4, #37).\n"
    "우하엽에 linear atelectasis 있음.\nNo pleural effusion."
)


def test_exact_quote_maps_to_its_offsets():
    span = locate_evidence(REPORT, "linear atelectasis")
    assert span is not None
    assert REPORT[span[0] : span[1]] == "linear atelectasis"


def test_case_and_whitespace_differences_still_match():
    span = locate_evidence(REPORT, "a 6 mm nodule in the rul")
    assert span is not None
    assert REPORT[span[0] : span[1]] == "A  6 mm Nodule in the RUL"


def test_quote_copied_from_the_normalized_model_input_maps_back_over_symbols():
    # The model saw "(Se 4, 37)": "#" is removed by normalization.
    span = locate_evidence(REPORT, "RUL (Se 4, 37)")
    assert span is not None
    assert REPORT[span[0] : span[1]] == "RUL (Se 4, #37)"


def test_korean_quote_maps_exactly():
    span = locate_evidence(REPORT, "우하엽에 linear atelectasis 있음")
    assert span is not None
    assert REPORT[span[0] : span[1]] == "우하엽에 linear atelectasis 있음"


def test_small_copy_errors_match_fuzzily_within_a_sentence():
    span = locate_evidence(REPORT, "6mm nodule in RUL")
    assert span is not None
    assert "6 mm Nodule in the RUL" in REPORT[span[0] : span[1]]


def test_paraphrase_or_invented_quote_is_unmatched():
    assert locate_evidence(REPORT, "consolidation in the left lower lobe") is None
    assert locate_evidence(REPORT, "") is None
    assert locate_evidence(REPORT, "###") is None


@given(st.text(min_size=1, max_size=60), st.data())
def test_any_exact_substring_maps_to_an_equal_substring(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    span = locate_evidence(text, quote)
    if quote.strip():
        assert span is not None
        assert text[span[0] : span[1]] == quote.strip()
