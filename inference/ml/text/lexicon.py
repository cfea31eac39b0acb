"""A lexicon: every entity value of a modality by key name, the shape code that
runs without a database passes around (benches, tests, the rule engine, stage 2).

    lexicon = lexicon_from_schema(modality)     # {"nodule": [("nodule", "keyword"), ...], ...}
    matcher = Matcher(lexicon_values(lexicon))  # keys are the key names

Inside the site the values come from the database instead
(annotations.selectors.modality_values, keys are key ids); both end as
matcher.Value rows for the one Matcher. Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from inference.ml.text.matcher import Value

Lexicon = Mapping[str, Sequence[tuple[str, str]]]  # key -> [(text, "keyword" | "regex")]


def lexicon_from_schema(modality: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Flatten one modality of the schema JSON (docs/schema.md; the default is
    inference/ml/defaults/default_schema.json) into a lexicon: every key's
    "values" as keywords and "regex" as regexes."""
    lexicon: dict[str, list[tuple[str, str]]] = {}
    for entity_type in modality["entity_types"]:
        for key in entity_type["keys"]:
            values = [(v, "keyword") for v in key.get("values", ())]
            values += [(r, "regex") for r in key.get("regex", ())]
            lexicon.setdefault(key["name"], []).extend(values)
    return lexicon


def lexicon_values(lexicon: Lexicon, *, keys: Collection[str] | None = None) -> list[Value]:
    """The lexicon's values as matcher rows, in lexicon order; only those of `keys`
    when given."""
    return [
        Value(key, text, kind)
        for key, items in lexicon.items()
        if keys is None or key in keys
        for text, kind in items
    ]
