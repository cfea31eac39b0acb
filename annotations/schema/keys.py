"""Key names of the default schema, read from default_schema.json without Django,
so plain-Python code (demo generator, ML library, benches) shares one list."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent / "default_schema.json"


@cache
def default_keys(modality: str, entity_type: str) -> tuple[str, ...]:
    """Key names of one entity type of one modality, in schema order."""
    data = json.loads(DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8"))
    for mod in data["modalities"]:
        if mod["code"] != modality:
            continue
        for etype in mod["entity_types"]:
            if etype["name"] == entity_type:
                return tuple(key["name"] for key in etype["keys"])
    raise KeyError(f"no entity type {entity_type!r} in modality {modality!r}")
