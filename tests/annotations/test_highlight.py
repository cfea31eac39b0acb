"""Highlight segments: overlapping, adjacent, empty and out-of-range spans (annotations.highlight)."""

from annotations.highlight import Span, segments


def test_segments_split_overlapping_and_adjacent_spans():
    text = "ground glass opacity RUL"
    spans = [Span(0, 20, "a"), Span(7, 12, "b"), Span(21, 24, "c"), Span(20, 21, "d")]
    got = [(s.text, s.css) for s in segments(text, spans)]
    assert got == [
        ("ground ", "a"),
        ("glass", "a b"),
        (" opacity", "a"),
        (" ", "d"),
        ("RUL", "c"),
    ]


def test_segments_ignore_empty_and_clip_out_of_range_spans():
    got = [(s.text, s.css) for s in segments("abc", [Span(1, 1, "x"), Span(2, 10, "y")])]
    assert got == [("ab", ""), ("c", "y")]
