"""Regex entity values cannot hang a worker: nested repetition is refused when a value
is saved, and a value `re` could backtrack on is matched under a time limit."""

from __future__ import annotations

import time

import pytest

from inference.ml.text.matcher import REGEX, Matcher, Value, regex_error
from inference.ml.text.regex_safety import (
    NESTED,
    backtracking_problem,
    bounded_compile,
    bounded_spans,
)

CATASTROPHIC = [r"(a+)+$", r"(a|ab)*c", r"(\w+\s?)+$", r"(?:a{1,3})+", r"(?=(a+)+)x", r"nodul(?:e|es)+"]
ORDINARY = [
    r"\bnodul\w*",
    r"\b(?:rt|right)\.?\s*upper",
    r"(?:ab)+",
    r"(a|b)+",  # one character each: a character class, no ambiguity
    r"결절\w*",
    r"[0-9]+(?:\.[0-9]+)?\s*(?:mm|cm)",
    r"(?>(a+))+",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_nested_repetition_is_refused_with_a_message(pattern):
    assert backtracking_problem(pattern) == NESTED
    assert regex_error(pattern) == NESTED


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_entity_patterns_pass(pattern):
    assert regex_error(pattern) is None


def test_a_catastrophic_value_already_saved_still_matches_and_in_bounded_time():
    """Saved before the check: it is scanned on its own by the `regex` module, under a
    timeout, never in the shared `re` pass where "(a+)+$" takes seconds on 25 a's."""
    matcher = Matcher([Value("x", r"(a+)+$", kind=REGEX), Value("nodule", "nodule")])
    started = time.perf_counter()
    assert matcher.find("a" * 40 + "!") == []
    assert time.perf_counter() - started < 1.0
    assert [(m.start, m.end, m.keys) for m in matcher.find("nodule aaa")] == [
        (0, 6, ("nodule",)),
        (7, 10, ("x",)),
    ]


def test_an_ordinary_value_still_rides_in_the_shared_pass():
    matcher = Matcher([Value("nodule", r"\bnodul\w*", kind=REGEX)])
    assert len(matcher._embedded) == 1 and matcher._separate == []


def test_matching_that_runs_out_of_time_finds_nothing_and_goes_on(caplog):
    compiled = bounded_compile(r"(?:x+x+)+y", case_sensitive=True)
    assert bounded_spans(compiled, "x" * 200_000, seconds=0.000_001) == []
    assert "skipped" in caplog.text
    assert bounded_spans(compiled, "xxy") == [(0, 3)]
