"""Output templates (JSON schemas) for the stage 2 tasks, and their validation.

The schemas are compact on purpose: after the prompt prefix is cached, most of a
report's time is spent generating the answer at 7-14 tokens/s on a CPU. So keys
are one or two letters, quotes are capped at 40 characters (the quote is about
half of the answer), and every finding is an object keyed by its entity key
(which also makes a repeated lesion impossible under constrained decoding):

    chest CT     {"nodule": {"s": "present", "l": ["right upper lobe"], "e": "8 mm nodule in RUL"}}
    brain step 1 {"metastasis": {"s": "present", "e": "..."}}
    brain step 2 {"metastasis": {"ep": "progression", "e": "..."}}        (episode)
                 {"stroke/infarction": {"s": "present", "e": "..."}}     (non-tumor detail)

`compact=True` (ChestKeys/BrainKeys) writes each finding as a fixed-length
array instead (JSON Schema `prefixItems`, positions titled "s", "l", "ep", "e"):
{"nodule": ["present", ["right upper lobe"], "8 mm nodule in RUL"]}. Measured on
3 bench reports with the 0.5B model it generated 23% fewer tokens (40 vs 52 per
report) but scored relation macro F1 0.17 against 0.42 for objects, so objects
are the default. `expand` turns either answer into named fields for the code,
and `conform` turns the prompt examples (readable form) into the schema's form.
Every array has `maxItems` and every string `maxLength`: they bound runaway
output from small models. Key, location and episode lists are passed in (the
schema is data that sites edit); the defaults are the default schema's key lists
(inference.ml.defaults, docs/schema.md).

`validate` checks the subset of JSON Schema these templates use (object,
properties, required, additionalProperties, array, items, prefixItems, minItems,
maxItems, string, maxLength, enum), so no jsonschema dependency is needed. Plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inference.ml.defaults import default_keys

JSONSchema = dict[str, Any]

STATUSES = ("present", "uncertain", "negated")
EPISODE_NONE = "none"  # no comparison stated (e.g. a first study); stored as episode None
# A quote is evidence, not a transcript: the cap saves generated tokens, and a cut
# quote is still a prefix of the report text, so it still maps to offsets.
EVIDENCE_MAX_CHARS = 40


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
    # True: each finding as an array [status, locations, quote] (23% fewer generated
    # tokens, but measured less accurate on the 0.5B model); False: an object
    # {"s", "l", "e"}. Compare with bench/stage2_bench.py --compact.
    compact: bool = False


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
    compact: bool = False  # as ChestKeys.compact

    @property
    def diagnoses(self) -> tuple[str, ...]:
        return (*self.malignant, self.non_malignant, self.other_non_tumor)


def _evidence() -> JSONSchema:
    return {"type": "string", "maxLength": EVIDENCE_MAX_CHARS}


def _finding(fields: dict[str, JSONSchema], *, compact: bool) -> JSONSchema:
    """A fixed-length array, one position per field (its `title`), in this order;
    or, not compact, an object with one required property per field."""
    if not compact:
        return {
            "type": "object",
            "properties": fields,
            "required": list(fields),
            "additionalProperties": False,
        }
    items = [{**schema, "title": name} for name, schema in fields.items()]
    return {
        "type": "array",
        "prefixItems": items,
        "items": False,
        "minItems": len(items),
        "maxItems": len(items),
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
            items[lesion] = _finding({"s": status, "e": _evidence()}, compact=keys.compact)
        else:
            items[lesion] = _finding({"s": status, "l": locations, "e": _evidence()}, compact=keys.compact)
    return _keyed(items)


def brain_step1_schema(keys: BrainKeys) -> JSONSchema:
    status = {"type": "string", "enum": list(keys.statuses)}
    return _keyed(
        {d: _finding({"s": status, "e": _evidence()}, compact=keys.compact) for d in keys.diagnoses}
    )


def brain_episode_schema(keys: BrainKeys, targets: Sequence[str]) -> JSONSchema:
    """Every target diagnosis must get an episode (or "none")."""
    episode = {"type": "string", "enum": [*keys.episodes, EPISODE_NONE]}
    return _keyed(
        {d: _finding({"ep": episode, "e": _evidence()}, compact=keys.compact) for d in targets},
        required=targets,
    )


def brain_nontumor_schema(keys: BrainKeys) -> JSONSchema:
    status = {"type": "string", "enum": list(keys.statuses)}
    return _keyed(
        {k: _finding({"s": status, "e": _evidence()}, compact=keys.compact) for k in keys.non_tumor}
    )


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
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    prefix = schema.get("prefixItems", [])
    for i, item in enumerate(value):
        if i < len(prefix):
            errors += validate(item, prefix[i], f"{path}[{i}]")
        elif schema.get("items") is False:
            errors.append(f"{path}: more than {len(prefix)} items")
            break
        else:
            errors += validate(item, schema.get("items") or {}, f"{path}[{i}]")
    return errors


def expand(value: Any, schema: Mapping[str, Any]) -> Any:
    """A validated answer with every fixed-length array turned into an object keyed by
    its positions' titles: {"nodule": ["present", [..], "q"]} -> {"nodule": {"s": .., "l": .., "e": ..}}."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: expand(v, properties.get(k, {})) for k, v in value.items()}
    prefix = schema.get("prefixItems")
    if isinstance(value, list) and prefix:
        return {item["title"]: expand(v, item) for item, v in zip(prefix, value, strict=False)}
    return value


def conform(output: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    """An example output (readable form, {"nodule": {"s": .., "l": .., "e": ..}}) adapted
    to `schema`: unknown keys and enum values dropped, keys in schema order (the order
    constrained decoding will produce), findings as the schema's fixed-length arrays.
    Idempotent: an output already in compact form is only filtered."""
    prefix = schema.get("prefixItems")
    if prefix:
        return _conform_items(output, prefix)
    properties = schema.get("properties", {})
    result: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in output:
            result[name] = _conform_value(output[name], sub)
    return result


def _conform_items(
    output: Mapping[str, Any] | Sequence[Any], prefix: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """A fixed-length array from either form: readable (keyed by the positions' titles)
    or already compact (a list, filtered position by position)."""
    if isinstance(output, Mapping):
        return [_conform_value(output.get(item["title"], _empty(item)), item) for item in prefix]
    return [_conform_value(v, item) for item, v in zip(prefix, output, strict=False)]


def _conform_value(value: Any, sub: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return conform(value, sub)
    if isinstance(value, list) and sub.get("prefixItems"):
        return _conform_items(value, sub["prefixItems"])
    items = sub.get("items")
    if isinstance(value, list) and isinstance(items, Mapping) and "enum" in items:
        return [v for v in value if v in items["enum"]]
    return value


def _empty(item: Mapping[str, Any]) -> Any:
    return [] if item.get("type") == "array" else ""
