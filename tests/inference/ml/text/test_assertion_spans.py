"""The assertion of a quoted span (stage 2's evidence quote, review's hallucination
flag): the cases the NegEx-style cue check it replaced was held to, plus quotes
that hold their own trigger."""

import pytest

from inference.ml.defaults import default_detector, default_triggers
from inference.ml.text.assertion import HISTORICAL, NEGATED, POSITIVE, UNCERTAIN, AssertionDetector
from inference.ml.text.triggers import BWD, NEG

DETECTOR = default_detector()
DETECTOR_ROWS = default_triggers()


def test_negation_cues_before_inside_and_after_the_span():
    text = "No pleural effusion. Consolidation in RLL. Nodule is not seen. 결절은 없음. GGO, but no nodule."
    for quote, negated in [
        ("pleural effusion", True),
        ("Consolidation in RLL", False),
        ("Nodule", True),
        ("결절은", True),
        ("GGO", False),
    ]:
        start = text.index(quote)
        assert DETECTOR.span_negated(text, (start, start + len(quote))) is negated, quote


def test_no_interval_change_is_not_a_negation():
    text = "No interval change of the 6 mm nodule in RUL."
    start = text.index("nodule")
    assert DETECTOR.span_negated(text, (start, start + 6)) is False


def test_hedges_are_not_negations():
    for text in ["Metastasis cannot be excluded.", "R/O pneumonia in RLL, rule out TB."]:
        assert DETECTOR.span_negated(text, (0, 10)) is False


@pytest.mark.parametrize(
    ("text", "quote", "expected"),
    [
        ("No pleural effusion.", "No pleural effusion", NEGATED),
        (
            "Pleural effusion was not detected in both hemithorax.",
            "Pleural effusion was not detected in both",
            NEGATED,
        ),
        # A quote cut inside a trigger (quotes are capped at 40 characters).
        ("Effusion-thickening was not detected on both sides.", "Effusion-thickening was not det", NEGATED),
        ("결절은 없음.", "결절은 없음", NEGATED),
        ("Nodule in the RUL, no effusion.", "Nodule in the RUL, no effusion", POSITIVE),
        ("There is a nodule in the RUL.", "There is a nodule in the RUL", POSITIVE),
        ("A pleural effusion is observed, not detected before.", "A pleural effusion is observed", POSITIVE),
        ("Possible nodule in the RUL.", "Possible nodule", UNCERTAIN),
        ("Mass: none.", "none", NEGATED),
        ("The consolidation has resolved.", "The consolidation has resolved", NEGATED),
    ],
)
def test_a_quote_is_read_by_its_head(text, quote, expected):
    start = text.index(quote)
    assert DETECTOR.span_status(text, (start, start + len(quote))) == expected


def test_a_historical_trigger_reads_historical_when_asked():
    text = "The consolidation has resolved."
    detector = AssertionDetector(DETECTOR_ROWS, historical=True)
    assert detector.span_status(text, (0, len(text) - 1)) == HISTORICAL
    assert detector.span_negated(text, (0, len(text) - 1))


def test_a_site_trigger_changes_the_answer():
    text = "Consolidation is not appreciable here."
    span = (0, len("Consolidation"))
    assert not DETECTOR.span_negated(text, span)
    assert AssertionDetector([*DETECTOR_ROWS, ("not appreciable", NEG, BWD)]).span_negated(text, span)
