"""The text engine: one implementation of matching, segmentation and assertion
for chest CT and brain MRI reports in English with Korean mixed in.

    patterns    case folding that keeps offsets, Latin/Hangul word edges, phrase tries
    lexicon     the Lexicon type (key -> values), flattening a schema, matcher rows
    matcher     Value / Match / Matcher: every entity value of a modality in one regex pass
    segment     sections, sentences, clauses; the sentence-boundary test of assertion scopes
    triggers    the assertion trigger table's vocabulary (categories, directions, rows)
    assertion   AssertionDetector: positive / negated / uncertain / historical per mention
    rules       RuleSet: triggers, headings and word lists as data
    labels      report-level weak labels in the "keyword" and "keyword_negation" modes

Used by weak labelling, consistency checks, the annotation workspace's
suggestions and the review page (annotations, review), the rule engine
(inference.ml.engine), the same-sentence baseline (inference.ml.baseline) and
stage 2's evidence check (inference.ml.llm.mapping). The engine takes its data
as arguments: the shipped defaults are in inference.ml.defaults, a site's
edited rules in its database (annotations.selectors.site_detector /
site_ruleset). Offsets are Unicode code points into the original text
throughout. Plain Python, no Django.
"""
