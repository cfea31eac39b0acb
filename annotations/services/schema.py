"""Load a schema (modalities, entity types, keys, values) from its JSON form.

Used by the data migration that installs the default schema (docs/schema.md), and by
`manage.py schema_load` for a site's own schema. Loading is additive and
idempotent: existing rows are kept, missing ones created.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.ml.defaults import DEFAULT_SCHEMA_PATH


@dataclass(frozen=True)
class SchemaModels:
    """The model classes to write with: the real ones, or a migration's historical ones."""

    Modality: Any
    EntityType: Any
    EntityKey: Any
    EntityValue: Any


def schema_models_from_apps(apps: Any) -> SchemaModels:
    return SchemaModels(
        Modality=apps.get_model("annotations", "Modality"),
        EntityType=apps.get_model("annotations", "EntityType"),
        EntityKey=apps.get_model("annotations", "EntityKey"),
        EntityValue=apps.get_model("annotations", "EntityValue"),
    )


def schema_read(path: Path = DEFAULT_SCHEMA_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    schema_check(data)
    return data


def schema_check(data: dict[str, Any]) -> None:
    """Raise ValueError naming the first problem: unknown references, bad regexes."""
    for modality in data["modalities"]:
        type_names = {t["name"] for t in modality["entity_types"]}
        key_names = {k["name"] for t in modality["entity_types"] for k in t["keys"]}
        for etype in modality["entity_types"]:
            pairs = etype.get("pairs_with")
            if pairs and pairs not in type_names:
                raise ValueError(f"{modality['code']}/{etype['name']}: unknown pairs_with {pairs!r}")
            for key in etype["keys"]:
                for ref in ("implicit_location", "parent"):
                    if key.get(ref) and key[ref] not in key_names:
                        raise ValueError(f"{key['name']}: unknown {ref} {key[ref]!r}")
                if key.get("pairs_with") and key["pairs_with"] not in type_names:
                    raise ValueError(f"{key['name']}: unknown pairs_with {key['pairs_with']!r}")
                for pattern in key.get("regex", []):
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        raise ValueError(f"{key['name']}: invalid regex {pattern!r}: {exc}") from exc


def schema_load(*, data: dict[str, Any], models: SchemaModels) -> dict[str, int]:
    """Create whatever of `data` is missing. Returns counts of rows created."""
    created = {"modalities": 0, "entity_types": 0, "keys": 0, "values": 0}
    for m in data["modalities"]:
        modality, new = models.Modality.objects.get_or_create(code=m["code"], defaults={"name": m["name"]})
        created["modalities"] += new
        types = {}
        for order_t, t in enumerate(m["entity_types"]):
            etype, new = models.EntityType.objects.get_or_create(
                modality=modality, name=t["name"], defaults={"role": t["role"], "order": order_t}
            )
            created["entity_types"] += new
            types[t["name"]] = etype
        keys = {}
        for t in m["entity_types"]:
            for order_k, k in enumerate(t["keys"]):
                pairs_name = k.get("pairs_with", t.get("pairs_with")) if k.get("pair", True) else None
                key, new = models.EntityKey.objects.get_or_create(
                    entity_type=types[t["name"]],
                    name=k["name"],
                    defaults={
                        "order": order_k,
                        "pairs_with": types[pairs_name] if pairs_name else None,
                        "description": k.get("description", ""),
                    },
                )
                created["keys"] += new
                keys[k["name"]] = (key, k)
        for key, k in keys.values():
            changed = False
            for ref in ("implicit_location", "parent"):
                if k.get(ref) and getattr(key, f"{ref}_id") is None:
                    setattr(key, ref, keys[k[ref]][0])
                    changed = True
            if changed:
                key.save()
            for kind, texts in (("keyword", k.get("values", [])), ("regex", k.get("regex", []))):
                for text in texts:
                    _, new = models.EntityValue.objects.get_or_create(key=key, text=text, kind=kind)
                    created["values"] += new
    return created
