"""The schema of a modality as the stage 2 modes want it, and the error of bad stage 2 input.

Every mode plans from `modality_schema(modality)`: the active keys by role (chest CT
lesions and locations; brain MRI diagnoses, non-tumor details, episodes) and each
key's entity values (the lexicon). Its `version` is the schema version that every
run key names, so a schema edit starts new rows instead of mixing with old ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

from annotations.models import EntityKey, EntityType, EntityValue, Modality
from inference.ml.llm.schemas import BrainKeys, ChestKeys
from inference.ml.text.lexicon import Lexicon

TASKS = {"chest_ct": "chest_ct_relations", "brain_mri": "brain_mri"}


class Stage2Error(ValueError):
    """Bad input for a stage 2 run (unknown mode, modality without a stage 2 task)."""


class Stage2Conflict(Stage2Error):
    """A well-formed run the data refuses now (no report matches yet): a 409 in the API."""


@dataclass(frozen=True, slots=True)
class ModalitySchema:
    code: str
    version: int
    keys: ChestKeys | BrainKeys
    lexicon: Lexicon

    @property
    def finding_keys(self) -> tuple[str, ...]:
        """The keys stage 1 predicts that stage 2 takes as its hint."""
        if isinstance(self.keys, ChestKeys):
            return self.keys.lesions
        return (*self.keys.diagnoses, *self.keys.non_tumor)


# A resumed job reads the schema it started with (stage2_modes.pinning).
_PINNED: ContextVar[ModalitySchema | None] = ContextVar("pinned_schema", default=None)


def modality_schema(modality: Modality) -> ModalitySchema:
    """Keys and entity values of the modality from the database schema. A schema
    that lacks a part the task needs falls back to the default key list for it.
    Inside a pinned run of this modality, the schema the run started with."""
    pinned = _PINNED.get()
    if pinned is not None and pinned.code == modality.code:
        return pinned
    if modality.code not in TASKS:
        raise Stage2Error(f"no stage 2 task for modality {modality.code!r}; known: {', '.join(TASKS)}")
    keys = list(
        EntityKey.objects.filter(entity_type__modality=modality, is_active=True)
        .select_related("entity_type", "implicit_location", "parent")
        .order_by("entity_type__order", "order", "name")
    )
    by_role: dict[str, list[EntityKey]] = {}
    for key in keys:
        by_role.setdefault(key.entity_type.role, []).append(key)
    names = lambda role: tuple(k.name for k in by_role.get(role, ()))  # noqa: E731
    lexicon: dict[str, list[tuple[str, str]]] = {}
    for name, text, kind in EntityValue.objects.filter(
        key__entity_type__modality=modality, key__is_active=True
    ).values_list("key__name", "text", "kind"):
        lexicon.setdefault(name, []).append((text, kind))
    schema_keys: ChestKeys | BrainKeys
    if modality.code == "chest_ct":
        defaults = ChestKeys()
        implicit = {k.name: k.implicit_location.name for k in keys if k.implicit_location is not None}
        schema_keys = ChestKeys(
            lesions=names(EntityType.Role.FINDING) or defaults.lesions,
            locations=names(EntityType.Role.LOCATION) or defaults.locations,
            implicit=implicit or defaults.implicit,
        )
    else:
        schema_keys = _brain_keys(by_role)
    return ModalitySchema(modality.code, modality.schema_version, schema_keys, lexicon)


def _brain_keys(by_role: dict[str, list[EntityKey]]) -> BrainKeys:
    defaults = BrainKeys()
    findings = by_role.get(EntityType.Role.FINDING, [])
    details = by_role.get(EntityType.Role.DETAIL, [])
    episodes = tuple(k.name for k in by_role.get(EntityType.Role.EPISODE, ()))
    malignant = tuple(k.name for k in findings if k.pairs_with_id is not None)
    parents = {d.parent.name for d in details if d.parent is not None}
    other = next((k.name for k in findings if k.name in parents), None)
    rest = [k.name for k in findings if k.name not in malignant and k.name != other]
    if not (malignant and other and rest and episodes):
        return defaults
    return BrainKeys(
        malignant=malignant,
        non_malignant=rest[0],
        other_non_tumor=other,
        non_tumor=tuple(d.name for d in details),
        episodes=episodes,
    )


def schema_to_json(schema: ModalitySchema) -> dict[str, Any]:
    keys = asdict(schema.keys)
    return {
        "code": schema.code,
        "version": schema.version,
        "keys": json.loads(json.dumps(keys, default=list)),
        "lexicon": {k: [list(v) for v in values] for k, values in schema.lexicon.items()},
    }


def schema_from_json(data: Mapping[str, Any]) -> ModalitySchema:
    keys_type = ChestKeys if data["code"] == "chest_ct" else BrainKeys
    raw: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data["keys"].items()}
    keys = keys_type(**raw)
    lexicon = {k: [tuple(v) for v in values] for k, values in data["lexicon"].items()}
    return ModalitySchema(data["code"], int(data["version"]), keys, lexicon)


@contextmanager
def schema_pinned(schema: ModalitySchema | None) -> Iterator[None]:
    token = _PINNED.set(schema)
    try:
        yield
    finally:
        _PINNED.reset(token)
