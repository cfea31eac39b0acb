"""The two weak-label modes ("keyword", "keyword_negation") of one report's matches."""

import time

from demo.generator.corpus import generate_reports
from inference.ml.text.assertion import NEGATED, POSITIVE, UNCERTAIN
from inference.ml.text.labels import KEYWORD, KEYWORD_NEGATION, label_report
from tests.inference.ml.text.test_assertion import DETECTOR, MATCHER


def test_keyword_mode_ignores_negation_and_keyword_negation_mode_uses_it():
    text = "No pleural effusion. Possible nodule. Old fibrosis. 폐경화 없음."
    labels = label_report(text, MATCHER, DETECTOR)
    keyword = {k: v.status for k, v in labels.by_mode(KEYWORD).items()}
    negation = {k: v.status for k, v in labels.by_mode(KEYWORD_NEGATION).items()}
    assert keyword == {
        "pleural effusion": POSITIVE,
        "nodule": POSITIVE,
        "fibrosis": POSITIVE,
        "consolidation": POSITIVE,
    }
    assert negation == {
        "pleural effusion": NEGATED,
        "nodule": UNCERTAIN,
        "fibrosis": POSITIVE,
        "consolidation": NEGATED,
    }


def test_a_key_is_positive_if_any_mention_is_and_records_every_value_that_matched():
    text = "No nodule in the RUL. New 결절 in the LLL."
    label = label_report(text, MATCHER, DETECTOR).by_mode(KEYWORD_NEGATION)["nodule"]
    assert label.status == POSITIVE
    assert label.values == ("nodule", "결절")


def test_detector_speed_is_reasonable_on_demo_reports():
    """A smoke check, not the benchmark (bench/weak_label_bench.py is): 2,000 demo
    reports matched and asserted in well under the time the suite allows."""

    texts = [r["text"] for r in generate_reports(n=2000, seed=5)]
    started = time.perf_counter()
    for text in texts:
        label_report(text, MATCHER, DETECTOR)
    assert time.perf_counter() - started < 5
