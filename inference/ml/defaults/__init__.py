"""The defaults shipped with the library: the default schema (modalities, entity
types, keys and their values) and the default rules (assertion triggers, section
headings, location words), as JSON files next to this module, and cached readers.

    default_keys("chest_ct", "Lesion")   # ("nodule", "mass", ...), in schema order
    default_lexicon("chest_ct")          # {"nodule": [("nodule", "keyword"), ...], ...}
    default_rules()["triggers"]          # [{"phrase", "category", "direction", "window"}, ...]
    default_ruleset(), default_triggers(), default_detector()   # the text engine's objects

Data, not code: a site installs them into its database (the annotations app seeds
its schema and rule tables from these files) and edits its own copy there; code
that runs without a database (the demo generator, benches, tests, the library's
default objects) reads them here. The text engine (inference.ml.text) takes its
data as arguments and never reads these files itself. The schema's layout is
described in docs/schema.md. Plain Python, no Django. The readers are cached:
treat what they return as read-only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from inference.ml.text.assertion import AssertionDetector
from inference.ml.text.lexicon import Lexicon, lexicon_from_schema
from inference.ml.text.rules import RuleSet
from inference.ml.text.triggers import Trigger

DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent / "default_schema.json"
DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "default_rules.json"


@cache
def default_schema() -> dict[str, Any]:
    """The parsed default_schema.json."""
    data: dict[str, Any] = json.loads(DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@cache
def default_rules() -> dict[str, Any]:
    """The parsed default_rules.json."""
    data: dict[str, Any] = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    return data


def _modality(code: str) -> dict[str, Any]:
    for modality in default_schema()["modalities"]:
        if modality["code"] == code:
            found: dict[str, Any] = modality
            return found
    raise KeyError(f"no modality {code!r} in the default schema")


@cache
def default_keys(modality: str, entity_type: str) -> tuple[str, ...]:
    """Key names of one entity type of one modality, in schema order."""
    for etype in _modality(modality)["entity_types"]:
        if etype["name"] == entity_type:
            return tuple(key["name"] for key in etype["keys"])
    raise KeyError(f"no entity type {entity_type!r} in modality {modality!r}")


@cache
def default_lexicon(modality: str) -> Lexicon:
    """Every key's values of one modality (see text.lexicon.lexicon_from_schema)."""
    return lexicon_from_schema(_modality(modality))


@cache
def default_ruleset() -> RuleSet:
    """The rule engine's default rules."""
    return RuleSet.from_data(default_rules())


def default_triggers() -> tuple[Trigger, ...]:
    """The default assertion triggers."""
    return default_ruleset().triggers


@cache
def default_detector() -> AssertionDetector:
    """An assertion detector over the default triggers (HIST counted as negated):
    built once, since compiling the trigger table takes milliseconds."""
    return AssertionDetector(default_triggers())
