"""Output templates (JSON schemas) for the stage 2 tasks, and their validation.

The schemas are compact on purpose: after the prompt prefix is cached, most of a
report's time is spent generating the answer at 7-14 tokens/s on a CPU, so keys
are one or two letters and every finding is an object keyed by its entity key
(which also makes a repeated lesion impossible under constrained decoding).
Every array has `maxItems` and every string `maxLength`: they bound runaway
output from small models. Key, location and episode lists are passed in (the
schema is data that sites edit); the defaults mirror SPEC.md's default schema.

    chest CT     {"nodule": {"s": "present", "l": ["right upper lobe"], "e": "8 mm nodule in RUL"}}
    brain step 1 {"metastasis": {"s": "present", "e": "..."}}
    brain step 2 {"metastasis": {"ep": "progression", "e": "..."}}        (episode)
                 {"stroke/infarction": {"s": "present", "e": "..."}}     (non-tumor detail)

`validate` checks the subset of JSON Schema these templates use (object,
properties, required, additionalProperties, array, items, maxItems, string,
maxLength, enum), so no jsonschema dependency is needed. Plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotations.schema.keys import default_keys

JSONSchema = dict[str, Any]

STATUSES = ("present", "uncertain", "negated")
EPISODE_NONE = "none"  # no comparison stated (e.g. a first study); stored as episode None
# A quote is evidence, not a transcript: the cap saves generated tokens, and a cut
# quote is still a prefix of the report text, so it still maps to offsets.
EVIDENCE_MAX_CHARS = 60


@dataclass(frozen=True, slots=True)
class ChestKeys:
    lesions: tuple[str, ...] = field(default_factory=lambda: default_keys("chest_ct", "Lesion"))
    locations: tuple[str, ...] = field(default_factory=lambda: default_keys("chest_ct", "Location"))
    # Lesions whose location is implied and never asked for (the method excludes
    # them from pair matching).
    implicit: Mapping[str, str] = field(
        default_factory=lambda: {"pleural effusion": "pleura", "pleural thickening": "pleura"}
    )
    statuses: tuple[str, ...] = STATUSES
    max_locations: int = 5


@dataclass(frozen=True, slots=True)
class BrainKeys:
    malignant: tuple[str, ...] = ("glioma", "lymphoma", "metastasis")
    non_malignant: str = "non-malignant tumor"
    other_non_tumor: str = "other non-tumor"
    non_tumor: tuple[str, ...] = (
        "demyelinating",
        "hemorrhage/vascular lesion",
        "infection/inflammation",
        "stroke/infarction",
    )
    episodes: tuple[str, ...] = ("progression", "stable", "improvement")
    statuses: tuple[str, ...] = STATUSES

    @property
    def diagnoses(self) -> tuple[str, ...]:
        return (*self.malignant, self.non_malignant, self.other_non_tumor)


def _evidence() -> JSONSchema:
    return {"type": "string", "maxLength": EVIDENCE_MAX_CHARS}


def _finding(properties: dict[str, JSONSchema]) -> JSONSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _keyed(items: Mapping[str, JSONSchema], required: Sequence[str] = ()) -> JSONSchema:
    return {
        "type": "object",
        "properties": dict(items),
        "required": list(required),
        "additionalProperties": False,
    }


def chest_ct_schema(keys: ChestKeys) -> JSONSchema:
    """One optional property per lesion; implicit-location lesions have no "l"."""
    status = {"type": "string", "enum": list(keys.statuses)}
    locations = {
        "type": "array",
        "items": {"type": "string", "enum": list(keys.locations)},
        "maxItems": min(keys.max_locations, len(keys.locations)),
    }
    items = {}
    for lesion in keys.lesions:
        if lesion in keys.implicit:
            items[lesion] = _finding({"s": status, "e": _evidence()})
        else:
            items[lesion] = _finding({"s": status, "l": locations, "e": _evidence()})
    return _keyed(items)


def brain_step1_schema(keys: BrainKeys) -> JSONSchema:
    status = {"type": "string", "enum": list(keys.statuses)}
    return _keyed({d: _finding({"s": status, "e": _evidence()}) for d in keys.diagnoses})


def brain_episode_schema(keys: BrainKeys, targets: Sequence[str]) -> JSONSchema:
    """Every target diagnosis must get an episode (or "none")."""
    episode = {"type": "string", "enum": [*keys.episodes, EPISODE_NONE]}
    return _keyed({d: _finding({"ep": episode, "e": _evidence()}) for d in targets}, required=targets)


def brain_nontumor_schema(keys: BrainKeys) -> JSONSchema:
    status = {"type": "string", "enum": list(keys.statuses)}
    return _keyed({k: _finding({"s": status, "e": _evidence()}) for k in keys.non_tumor})


def validate(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Errors of `value` against `schema` (empty when valid), each naming its JSON path."""
    expected = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {schema['enum']}"]
    if expected == "object":
        return _validate_object(value, schema, path)
    if expected == "array":
        return _validate_array(value, schema, path)
    if expected == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        if len(value) > schema.get("maxLength", len(value)):
            return [f"{path}: longer than {schema['maxLength']} characters"]
    return []


def _validate_object(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    properties: Mapping[str, Any] = schema.get("properties", {})
    errors = [f"{path}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
    for name, item in value.items():
        if name in properties:
            errors += validate(item, properties[name], f"{path}.{name}")
        elif schema.get("additionalProperties", True) is False:
            errors.append(f"{path}: unexpected key {name!r}")
    return errors


def _validate_array(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected an array, got {type(value).__name__}"]
    errors = []
    if len(value) > schema.get("maxItems", len(value)):
        errors.append(f"{path}: more than {schema['maxItems']} items")
    for i, item in enumerate(value):
        errors += validate(item, schema.get("items", {}), f"{path}[{i}]")
    return errors


def conform(output: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """An example output adapted to `schema`: unknown keys and enum values dropped, keys
    in schema order (the order constrained decoding will produce)."""
    properties = schema.get("properties", {})
    result: dict[str, Any] = {}
    for name, sub in properties.items():
        if name not in output:
            continue
        value = output[name]
        if isinstance(value, dict):
            value = conform(value, sub)
        elif isinstance(value, list) and "enum" in sub.get("items", {}):
            value = [v for v in value if v in sub["items"]["enum"]]
        result[name] = value
    return result
