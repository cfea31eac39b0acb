"""What stage 1 learns from and is judged on: keys, gold / weak / approved label
sets, the fixed held-out gold set, and the frozen data snapshot of a training run.

Held-out set. A report is held out when the SHA-256 of "source<US>external_id"
falls in the lowest HELDOUT_FRACTION of the hash range: a property of the report
alone, so the set never reshuffles as gold grows, two runs are always judged on
the same reports, and nothing about training (seed, label sources) can move a
report in or out. Training excludes every held-out report from every label
source and from masked-LM pretraining, whether it has gold yet or not, so a
report that gets gold later was never seen either. The held-out *gold* set is
the held-out reports that have gold now.

A key counts as present in a label set when its status is present or uncertain
(the same rule as the weak-label evaluation and the gold files' "no findings"):
a hedged finding is one a reviewer should see.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from annotations import selectors
from annotations.models import Assignment, EntityKey, EntityType, Modality, Report, WeakLabel, WeakLabelSet
from inference.hooks import approved_labels_source

HELDOUT_FRACTION = 0.15
PRESENT_STATUSES = frozenset({selectors.PRESENT, selectors.UNCERTAIN})
WEAK_PRESENT_STATUSES = (WeakLabel.Status.POSITIVE, WeakLabel.Status.UNCERTAIN)
WEAK_MODES = tuple(WeakLabelSet.Mode.values)
# A training request's default weak mode: the rule engine's labels when the modality has
# them (the best weak labeller measured), else keyword + negation (resolved when a run is
# requested, so the run records the mode it used).
WEAK_AUTO = "auto"
WEAK_AUTO_ORDER = (WeakLabelSet.Mode.RULE_ENGINE.value, WeakLabelSet.Mode.KEYWORD_NEGATION.value)

GOLD, WEAK, APPROVED = "gold", "weak", "approved"
# The three choices the issue names; each is a list of sources, in priority order
# (a report labelled by two sources takes the first one's labels).
LABEL_SOURCE_CHOICES: dict[str, tuple[str, ...]] = {
    "gold": (GOLD,),
    "gold_weak": (GOLD, WEAK),
    "gold_weak_approved": (GOLD, APPROVED, WEAK),
}
LABEL_SOURCE_LABELS = {
    "gold": "Gold only",
    "gold_weak": "Gold + weak labels",
    "gold_weak_approved": "Gold + weak labels + clinician-approved findings",
}
TEXT_CHUNK = 1000


class Stage1DataError(ValueError):
    """The requested training data cannot be assembled; the message says why."""


class Stage1RecipeRefused(Stage1DataError):
    """A well-formed recipe the data refuses now (no gold, requested weak labels that do
    not exist, too few examples): the API answers 409, as for every state refusal."""


def modality_get(modality: Modality | str | int) -> Modality:
    if isinstance(modality, Modality):
        return modality
    lookup: dict[str, int | str] = {"pk": modality} if isinstance(modality, int) else {"code": modality}
    try:
        return Modality.objects.get(**lookup)
    except Modality.DoesNotExist:
        raise Stage1DataError(f"unknown modality {modality!r}") from None


def stage1_keys(modality: Modality | str) -> list[str]:
    """The keys stage 1 classifies: the active finding keys (chest CT lesions, brain
    MRI diagnosis groups) in schema order. Locations and episodes are stage 2's."""
    return list(
        EntityKey.objects.filter(
            entity_type__modality=modality_get(modality),
            entity_type__role=EntityType.Role.FINDING,
            is_active=True,
        )
        .order_by("entity_type__order", "order", "name")
        .values_list("name", flat=True)
    )


# -- held-out set ------------------------------------------------------------------------


def is_heldout(source: str, external_id: str) -> bool:
    digest = hashlib.sha256(f"{source}\x1f{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < HELDOUT_FRACTION * 2**64


def heldout_bucket_ids(modality: Modality | str | None = None) -> set[int]:
    """Every report (with gold or not) in the held-out bucket; training skips them all."""
    reports = Report.objects.all()
    if modality is not None:
        reports = reports.filter(modality=modality_get(modality))
    return {
        pk
        for pk, source, ext in reports.values_list("pk", "source", "external_id")
        if is_heldout(source, ext)
    }


def gold_report_ids(modality: Modality | str) -> list[int]:
    """Reports of the modality that have a gold version (adjudicated, imported, or
    one submitted annotation), ascending."""
    candidates = (
        Assignment.objects.filter(report__modality=modality_get(modality), status=Assignment.Status.SUBMITTED)
        .values_list("report_id", flat=True)
        .distinct()
    )
    return sorted(selectors.gold_assignment_ids(report_ids=list(candidates)))


def heldout_report_ids(modality: Modality | str) -> list[int]:
    """The fixed held-out gold set of a modality (ascending report ids): gold reports
    in the held-out bucket. No training run of this app ever sees them."""
    ids = gold_report_ids(modality)
    rows = Report.objects.filter(pk__in=ids).values_list("pk", "source", "external_id")
    return sorted(pk for pk, source, ext in rows if is_heldout(source, ext))


# -- label sets ----------------------------------------------------------------------------


def gold_key_sets(report_ids: Iterable[int]) -> dict[int, set[str]]:
    """report id -> names of the keys present (or uncertain) in its gold version,
    for the reports that have gold. Every key name, restrict to stage1_keys as needed."""
    gold = selectors.gold_assignment_ids(report_ids=list(report_ids))
    statuses = selectors.key_statuses(assignment_ids=gold.values())
    key_ids = {key_id for per in statuses.values() for key_id in per}
    names = dict(EntityKey.objects.filter(pk__in=key_ids).values_list("pk", "name"))
    return {
        report_id: {names[k] for k, status in statuses[assignment_id].items() if status in PRESENT_STATUSES}
        for report_id, assignment_id in gold.items()
    }


def weak_key_sets(modality: Modality | str, mode: str) -> tuple[dict[int, set[str]], int | None]:
    """(report id -> weakly present keys, schema version used) from the newest schema
    version that has weak labels of `mode` for this modality; ({}, None) if none."""
    if mode not in WEAK_MODES:
        raise Stage1DataError(f"unknown weak-label mode {mode!r}; choose one of {', '.join(WEAK_MODES)}")
    sets = WeakLabelSet.objects.filter(report__modality=modality_get(modality), mode=mode)
    version = sets.order_by("-schema_version").values_list("schema_version", flat=True).first()
    if version is None:
        return {}, None
    sets = sets.filter(schema_version=version)
    out: dict[int, set[str]] = {report_id: set() for report_id in sets.values_list("report_id", flat=True)}
    labels = WeakLabel.objects.filter(label_set__in=sets, status__in=WEAK_PRESENT_STATUSES).values_list(
        "label_set__report_id", "key__name"
    )
    for report_id, name in labels:
        out[report_id].add(name)
    return out, version


def approved_key_sets(modality: Modality | str) -> dict[int, set[str]]:
    """report id -> keys clinicians approved as present (the source the review app
    registers with inference.hooks)."""
    source = approved_labels_source()
    if source is None:
        raise Stage1DataError(
            "clinician-approved findings are not available in this installation "
            "(no app registered an approved-label source); train with gold and weak labels"
        )
    return {int(k): set(v) for k, v in source.key_labels(modality=modality_get(modality)).items()}


def weak_mode_resolve(modality: Modality | str, mode: str) -> str:
    """`mode` itself, or for WEAK_AUTO the first of WEAK_AUTO_ORDER the modality has
    weak labels of (the first one when it has none: the refusal then names it)."""
    if mode != WEAK_AUTO:
        if mode not in WEAK_MODES:
            raise Stage1DataError(f"unknown weak-label mode {mode!r}; choose one of {', '.join(WEAK_MODES)}")
        return mode
    stored = set(
        WeakLabelSet.objects.filter(report__modality=modality_get(modality), mode__in=WEAK_AUTO_ORDER)
        .values_list("mode", flat=True)
        .distinct()
    )
    return next((m for m in WEAK_AUTO_ORDER if m in stored), WEAK_AUTO_ORDER[0])


# -- what a recipe puts in, and whether it may run ------------------------------------------


@dataclass
class TrainingInputs:
    """How many reports each source of a recipe contributes, outside the held-out set, and
    why the recipe is refused (None: it may run). Counted as training_data_build counts:
    a report labelled by two sources counts for the first."""

    modality: str
    label_sources: str
    weak_mode: str | None  # resolved; None when the recipe has no weak labels
    counts: dict[str, int]  # gold / weak / approved / total / heldout_excluded
    weak_schema_version: int | None = None
    problem: str | None = None


def _labelled_examples(
    modality: Modality, label_sources: str, weak_mode: str, wanted: set[str]
) -> tuple[dict[int, tuple[str, set[str]]], list[str], int | None, int]:
    """(report id -> (source, present keys), described sources, weak schema version,
    held-out gold excluded), every source of the recipe in priority order."""
    bucket = heldout_bucket_ids(modality)
    chosen: dict[int, tuple[str, set[str]]] = {}
    described: list[str] = []
    weak_version = None
    excluded = 0
    for source in LABEL_SOURCE_CHOICES[label_sources]:
        if source == GOLD:
            labelled = gold_key_sets(gold_report_ids(modality))
            described.append(GOLD)
        elif source == APPROVED:
            labelled = approved_key_sets(modality)
            described.append(APPROVED)
        else:
            labelled, weak_version = weak_key_sets(modality, weak_mode)
            described.append(f"{WEAK}:{weak_mode}")
        for report_id, present in labelled.items():
            if report_id in bucket:
                excluded += source == GOLD
                continue
            chosen.setdefault(report_id, (source, present & wanted))
    return chosen, described, weak_version, excluded


def _source_counts(chosen: dict[int, tuple[str, set[str]]], heldout_excluded: int) -> dict[str, int]:
    counts = {GOLD: 0, WEAK: 0, APPROVED: 0}
    for source, _present in chosen.values():
        counts[source] += 1
    return counts | {"total": len(chosen), "heldout_excluded": heldout_excluded}


def _recipe_problem(
    modality: Modality, label_sources: str, weak_mode: str, counts: dict[str, int]
) -> str | None:
    """Why a recipe must not run, or None. Never a silent zero: every source the recipe
    names must contribute, and every recipe needs gold (the only labels a person checked,
    and what thresholds are calibrated on)."""
    code = modality.code
    if counts[GOLD] == 0:
        held = counts["heldout_excluded"]
        where = f" ({held} gold report(s) exist, all in the held-out set)" if held else ""
        return (
            f"no gold {code} reports outside the held-out set{where}: import labels "
            "(Data → Import labels) or annotate reports first"
        )
    sources = LABEL_SOURCE_CHOICES[label_sources]
    if WEAK in sources and counts[WEAK] == 0:
        return (
            f"the recipe asks for weak labels but there are no {weak_mode} weak labels for {code} "
            "reports outside gold and the held-out set: run weak labelling with that mode first "
            "(Weak labels page), or train on gold only"
        )
    if APPROVED in sources and counts[APPROVED] == 0 and WEAK not in sources:
        return f"the recipe asks for clinician-approved findings but no {code} report has any"
    if counts["total"] < 4:
        return f"only {counts['total']} labelled {code} reports; stage 1 needs at least 4"
    return None


def training_inputs_preview(
    modality: Modality | str, *, label_sources: str, weak_mode: str = WEAK_AUTO
) -> TrainingInputs:
    """What a recipe would train on (counts per source) and whether it may run, without
    building the snapshot: the training form's preview and the refusal both use it."""
    modality = modality_get(modality)
    if label_sources not in LABEL_SOURCE_CHOICES:
        raise Stage1DataError(
            f"unknown label sources {label_sources!r}; choose one of {', '.join(LABEL_SOURCE_CHOICES)}"
        )
    uses_weak = WEAK in LABEL_SOURCE_CHOICES[label_sources]
    mode = weak_mode_resolve(modality, weak_mode)
    keys = set(stage1_keys(modality))
    if not keys:
        raise Stage1DataError(f"{modality.code} has no active finding keys to classify")
    chosen, _, weak_version, excluded = _labelled_examples(modality, label_sources, mode, keys)
    counts = _source_counts(chosen, excluded)
    return TrainingInputs(
        modality=modality.code,
        label_sources=label_sources,
        weak_mode=mode if uses_weak else None,
        counts=counts,
        weak_schema_version=weak_version,
        problem=_recipe_problem(modality, label_sources, mode, counts),
    )


# -- training data and its snapshot --------------------------------------------------------


@dataclass
class TrainingData:
    """The labelled examples of one run, in ascending report id order."""

    modality: str
    keys: list[str]
    label_sources: list[str]  # e.g. ["gold", "weak:keyword_negation"]
    report_ids: list[int]
    sources: list[str]  # per example: "gold" | "approved" | "weak"
    key_sets: list[list[str]]
    pretrain_report_ids: list[int] = field(default_factory=list)
    weak_schema_version: int | None = None
    heldout_excluded: int = 0
    approved_provenance: dict[str, Any] = field(default_factory=dict)  # report id -> who verified, when

    @property
    def counts(self) -> dict[str, int]:
        counts = {GOLD: 0, WEAK: 0, APPROVED: 0}
        for source in self.sources:
            counts[source] += 1
        return {
            **counts,
            "total": len(self.report_ids),
            "unlabelled_pretrain": len(self.pretrain_report_ids),
            "heldout_excluded": self.heldout_excluded,
        }

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "format": "radreview-stage1-data-snapshot",
            "format_version": 1,
            "created_at": timezone.now().isoformat(timespec="seconds"),
            "modality": self.modality,
            "keys": self.keys,
            "label_sources": self.label_sources,
            "weak_schema_version": self.weak_schema_version,
            "heldout_fraction": HELDOUT_FRACTION,
            "counts": self.counts,
            # [report id, source, present keys]: the exact labels the model learned from.
            "examples": [
                [rid, src, keys]
                for rid, src, keys in zip(self.report_ids, self.sources, self.key_sets, strict=True)
            ],
            "pretrain_report_ids": self.pretrain_report_ids,
            "approved_provenance": self.approved_provenance,
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> TrainingData:
        examples = data["examples"]
        return cls(
            modality=data["modality"],
            keys=list(data["keys"]),
            label_sources=list(data["label_sources"]),
            report_ids=[int(e[0]) for e in examples],
            sources=[str(e[1]) for e in examples],
            key_sets=[list(e[2]) for e in examples],
            pretrain_report_ids=[int(i) for i in data.get("pretrain_report_ids", [])],
            weak_schema_version=data.get("weak_schema_version"),
            heldout_excluded=int(data.get("counts", {}).get("heldout_excluded", 0)),
            approved_provenance=dict(data.get("approved_provenance", {})),
        )


def training_data_build(
    modality: Modality | str,
    *,
    label_sources: str,
    weak_mode: str = WEAK_AUTO,
    pretrain: bool = False,
    max_pretrain_reports: int = 20_000,
) -> TrainingData:
    """Assemble the examples of one run; raises Stage1DataError with the reason when the
    recipe may not run (training_inputs_preview's problem: no gold, requested weak labels
    that do not exist, fewer than 4 examples)."""
    modality = modality_get(modality)
    if label_sources not in LABEL_SOURCE_CHOICES:
        raise Stage1DataError(
            f"unknown label sources {label_sources!r}; choose one of {', '.join(LABEL_SOURCE_CHOICES)}"
        )
    keys = stage1_keys(modality)
    if not keys:
        raise Stage1DataError(f"{modality.code} has no active finding keys to classify")
    weak_mode = weak_mode_resolve(modality, weak_mode)
    chosen, described, weak_version, excluded = _labelled_examples(
        modality, label_sources, weak_mode, set(keys)
    )
    problem = _recipe_problem(modality, label_sources, weak_mode, _source_counts(chosen, excluded))
    if problem:
        raise Stage1RecipeRefused(problem)
    ids = sorted(chosen)
    approved_ids = [i for i in ids if chosen[i][0] == APPROVED]
    pretrain_ids = pretrain_report_ids(max_reports=max_pretrain_reports) if pretrain else []
    return TrainingData(
        modality=modality.code,
        keys=keys,
        label_sources=described,
        report_ids=ids,
        sources=[chosen[i][0] for i in ids],
        key_sets=[sorted(chosen[i][1]) for i in ids],
        pretrain_report_ids=pretrain_ids,
        weak_schema_version=weak_version,
        heldout_excluded=excluded,
        approved_provenance=_approved_provenance(modality, approved_ids) if approved_ids else {},
    )


def _approved_provenance(modality: Modality, report_ids: list[int]) -> dict[str, Any]:
    """Who verified each approved example and when (the registered approved-label
    source), for the snapshot."""
    source = approved_labels_source()
    if source is None:
        return {}
    found = source.provenance(modality=modality)
    return {str(i): found[i] for i in report_ids if i in found}


def pretrain_report_ids(*, max_reports: int) -> list[int]:
    """Reports of every modality without a submitted version and outside the held-out
    bucket, for masked-LM pretraining (the decision: one encoder shared by the
    modalities). Above `max_reports`, a deterministic hash-ordered sample."""
    annotated = set(
        Assignment.objects.filter(status=Assignment.Status.SUBMITTED).values_list("report_id", flat=True)
    )
    rows = Report.objects.values_list("pk", "source", "external_id")
    ids = [pk for pk, src, ext in rows if pk not in annotated and not is_heldout(src, ext)]
    if len(ids) > max_reports:
        ids = sorted(ids, key=lambda pk: hashlib.sha256(str(pk).encode()).digest())[:max_reports]
    return sorted(ids)


def snapshot_write(path: Path, data: TrainingData) -> str:
    """Write the snapshot as JSON and return its SHA-256 (over the exact bytes)."""
    payload = json.dumps(data.to_snapshot(), ensure_ascii=False, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return hashlib.sha256(payload).hexdigest()


def snapshot_read(path: Path, *, sha256: str = "") -> TrainingData:
    """Read a snapshot back; with `sha256`, refuse one whose bytes changed."""
    payload = path.read_bytes()
    if sha256 and hashlib.sha256(payload).hexdigest() != sha256:
        raise Stage1DataError(f"data snapshot {path} does not match its recorded SHA-256; it was changed")
    return TrainingData.from_snapshot(json.loads(payload))


def report_texts(report_ids: Sequence[int]) -> Iterator[tuple[int, str]]:
    """(id, text) in the given order, read in chunks so memory stays bounded per chunk."""
    for start in range(0, len(report_ids), TEXT_CHUNK):
        chunk = report_ids[start : start + TEXT_CHUNK]
        texts = dict(Report.objects.filter(pk__in=chunk).values_list("pk", "text"))
        for report_id in chunk:
            if report_id in texts:
                yield report_id, texts[report_id]


def storage_root() -> Path:
    return Path(settings.MODEL_STORAGE_DIR)


def version_dir(modality_code: str, version_pk: int) -> Path:
    return storage_root() / modality_code / f"v{version_pk}"


def resolve_artifact(path: str) -> Path:
    """ModelVersion paths are stored relative to MODEL_STORAGE_DIR so the directory can move."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else storage_root() / candidate
