"""Weak labelling: a single-pass entity-value matcher and ConText/NegEx-style
assertion detection (negated / uncertain), for chest CT and brain MRI reports in
English with Korean mixed in.

Plain Python, no Django: `patterns` builds the compiled regexes, `matcher` finds
entity-value mentions, `negation` decides each mention's assertion from the
trigger table in `triggers`, and `labels` turns one report's mentions into
report-level labels for the two modes ("keyword", "keyword_negation").
Offsets are Unicode code points into the original text throughout.
"""
