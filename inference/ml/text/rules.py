"""The rules as data: assertion triggers, section headings, location words,
outside-organ and inside words, anaphora, the heads an adjective form modifies,
the word groups that change how a brain MRI episode cue reads.
The rule engine reads them (inference.ml.engine); the assertion detector and
the segmenter are built from their triggers and sections.

Defaults come from inference/ml/defaults/default_rules.json
(defaults.default_ruleset); a site's edited copy comes from the database
(annotations.selectors.site_ruleset) in the same layout. Plain Python, no Django.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from inference.ml.text.location_keys import LocationTree
from inference.ml.text.triggers import Trigger, rows_to_triggers


@dataclass(frozen=True)
class RuleSet:
    triggers: tuple[Trigger, ...]
    sections: tuple[tuple[str, str], ...]
    location_words: Mapping[str, Any]
    outside_organs: tuple[str, ...] = ()
    inside_words: tuple[str, ...] = ()
    anaphora: tuple[str, ...] = ()
    extrapulmonary_locations: tuple[str, ...] = ()
    modified_heads: tuple[str, ...] = ()
    # Brain MRI episode reading (engine/episodes.py): word group -> words.
    episode_words: Mapping[str, Any] = field(default_factory=dict)
    label: str = "default"  # where the rules came from ("default", "db v3")
    version: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(self, "version", self.digest())

    @property
    def location_tree(self) -> LocationTree:
        """Which location key lies in which ("parents"): the normalisation every mode's
        locations go through (text.location_keys)."""
        parents = self.location_words.get("parents")
        return LocationTree.from_parents(parents if isinstance(parents, Mapping) else None)

    def digest(self) -> str:
        blob = json.dumps(
            [
                self.triggers,
                self.sections,
                self.location_words,
                self.outside_organs,
                self.inside_words,
                self.anaphora,
                self.extrapulmonary_locations,
                self.modified_heads,
                self.episode_words,
            ],
            sort_keys=True,
            ensure_ascii=False,
            default=list,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, label: str = "default") -> RuleSet:
        """From the default_rules.json layout (the database export has the same)."""
        return cls(
            triggers=rows_to_triggers(data.get("triggers", ())),
            sections=tuple((row["phrase"], row["kind"]) for row in data.get("sections", ())),
            location_words=data.get("location_words", {}),
            outside_organs=tuple(data.get("outside_organs", ())),
            inside_words=tuple(data.get("inside_words", ())),
            anaphora=tuple(data.get("anaphora", ())),
            extrapulmonary_locations=tuple(data.get("extrapulmonary_locations", ())),
            modified_heads=tuple(data.get("modified_heads", ())),
            episode_words=data.get("episode_words", {}),
            label=label,
        )

    def with_triggers(self, rows: Sequence[Mapping[str, Any]]) -> RuleSet:
        return RuleSet.from_data({**self.as_data(), "triggers": list(rows)}, label=self.label)

    def as_data(self) -> dict[str, Any]:
        return {
            "triggers": [
                {"phrase": t[0], "category": t[1], "direction": t[2], "window": t[3] if len(t) > 3 else None}
                for t in self.triggers
            ],
            "sections": [{"phrase": p, "kind": k} for p, k in self.sections],
            "location_words": dict(self.location_words),
            "outside_organs": list(self.outside_organs),
            "inside_words": list(self.inside_words),
            "anaphora": list(self.anaphora),
            "extrapulmonary_locations": list(self.extrapulmonary_locations),
            "modified_heads": list(self.modified_heads),
            "episode_words": dict(self.episode_words),
        }


# A job that resumes reads the rules it started with (a pinned run), not the site's
# current ones: annotations.selectors.site_ruleset answers this while it is set.
_PINNED: ContextVar[RuleSet | None] = ContextVar("pinned_ruleset", default=None)


def ruleset_to_json(rules: RuleSet) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(asdict(rules), ensure_ascii=False, default=list))
    return data


def ruleset_from_json(data: Mapping[str, Any]) -> RuleSet:
    """The inverse of ruleset_to_json; the version is recomputed and equals the original's."""
    fields = dict(data)
    fields["triggers"] = tuple(tuple(t) for t in fields.get("triggers", ()))
    fields["sections"] = tuple(tuple(s) for s in fields.get("sections", ()))
    for name in ("outside_organs", "inside_words", "anaphora", "extrapulmonary_locations", "modified_heads"):
        fields[name] = tuple(fields.get(name, ()))
    fields.pop("version", None)
    return RuleSet(**fields)


def pinned_ruleset() -> RuleSet | None:
    return _PINNED.get()


@contextmanager
def ruleset_pinned(rules: RuleSet | None) -> Iterator[None]:
    """Within the block, the site's rules are `rules` (None: the site's current ones)."""
    token = _PINNED.set(rules)
    try:
        yield
    finally:
        _PINNED.reset(token)
