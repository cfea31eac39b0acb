"""Weak labelling (docs/pipeline.md, "Weak labels"): apply the current entity values to
every report nobody annotated, per key, in one or more modes, and measure each
mode against the gold labels of the reports that have them.

Modes: the two keyword modes of inference.ml.text.labels, and "rule_engine", the rule
engine's report-level verdicts (inference.ml.engine: the engine the stage 2 "combined"
and the "rules_engine" evaluation modes build from the site's lexicon and rules). Each
EngineFinding's stage2_status becomes the label: present -> positive, uncertain,
negated; historical ("resolved", "previously seen") is already negated there. The
engine comes from a provider the inference app registers at start-up
(register_engine_provider): annotations may not import inference's services, which
build on it; the engine itself is plain inference.ml.

A job runs the modality's reports in chunks by id (jobs.chunks: any heavy worker
takes one; the job's result adds up the chunks' counts). Per chunk (or batch, for
weak_labels_run):

* every report is matched once (inference.ml.text.labels.label_report); both keyword
  modes come from the same matches, the rule engine reads the text on its own;
* reports without a submitted version get a WeakLabelSet per mode, replacing in
  one transaction whatever the same mode and schema version stored for the
  batch's reports (so a re-run, or a redelivered task, never duplicates; a report
  annotated since the last run loses its weak labels);
* reports with gold add to the evaluation counts: the weak label against the
  gold version, per key and mode (a key counts as present when positive or
  uncertain, in gold and in the weak label alike), and how many of the reports
  whose gold mentions a key only negated the mode calls positive.

Then every entity value of the modality is counted (EntityValue.report_count): each chunk
counts its own reports (the texts it has read anyway), the job adds the shares up.
Progress is reported per batch, so a cancel lands within one batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Max

from annotations import selectors
from annotations.models import EntityKey, EntityType, EntityValue, Modality, Report, WeakLabel, WeakLabelSet
from annotations.services.values import ValueCounter, entity_value_count, entity_value_counts_store
from inference.ml.engine import EngineResult, RuleEngine
from inference.ml.metrics import KeyCounts
from inference.ml.text.assertion import NEGATED, POSITIVE, UNCERTAIN
from inference.ml.text.labels import KEYWORD_NEGATION, MODES, KeyLabel, label_report
from inference.ml.text.matcher import Matcher
from jobs.chunks import chunk_writes, chunked_job_work, job_chunks_progress
from jobs.models import Job, JobChunk
from jobs.services import job_create, job_log
from radreview.pg_copy import rows_insert

BATCH_SIZE = 1000
EVALUATED_ROLES = (EntityType.Role.FINDING, EntityType.Role.DETAIL)  # what stage 1 classifies

Progress = Callable[[int, int, str], None]

RULE_ENGINE = WeakLabelSet.Mode.RULE_ENGINE.value
WEAK_MODES = (*MODES, RULE_ENGINE)  # every mode a run may ask for, keyword modes first
# EngineFinding.stage2_status -> WeakLabel.Status (historical arrives as "negated").
ENGINE_STATUS = {"present": POSITIVE, "uncertain": UNCERTAIN, "negated": NEGATED}

EngineProvider = Callable[[Modality], RuleEngine]
_engine_provider: list[EngineProvider] = []


class WeakLabelError(ValueError):
    """A weak-labelling request that cannot run; the message says why."""


def register_engine_provider(provider: EngineProvider | None) -> None:
    """Set the function that builds a modality's rule engine (InferenceConfig.ready()
    registers the stage 2 modes' engine_for; None removes it)."""
    _engine_provider[:] = [provider] if provider is not None else []


def weak_label_engine(*, modality: Modality) -> RuleEngine:
    """The modality's rule engine from the registered provider; WeakLabelError when none
    is registered or the provider refuses the modality (no rule engine for it)."""
    if not _engine_provider:
        raise WeakLabelError("the rule engine is not available in this installation")
    try:
        return _engine_provider[0](modality)
    except ValueError as exc:
        raise WeakLabelError(f"no rule engine for {modality.code}: {exc}") from None


TALLIES = ("tp", "fp", "fn", "tn", "negated_gold", "negated_called_present")


@dataclass
class KeyTally:
    """One key's counts in one mode, added to batch by batch; the rates are
    inference.ml.metrics.KeyCounts' (the one definition of precision, recall, F1)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    negated_gold: int = 0  # reports whose gold mentions the key, only negated
    negated_called_present: int = 0  # ... that the mode labels positive anyway

    def add(self, other: KeyTally) -> None:
        for name in TALLIES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        counts = KeyCounts(tp=self.tp, fp=self.fp, fn=self.fn, tn=self.tn)
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": counts.precision,
            "recall": counts.recall,
            "f1": counts.f1,
            "negated_gold": self.negated_gold,
            "negated_called_present": self.negated_called_present,
        }


@dataclass
class ModalityRun:
    modality: str
    schema_version: int
    modes: list[str]
    rules_version: str = ""  # the rule engine's, when the run has the rule_engine mode
    reports: int = 0
    labelled: int = 0
    skipped_annotated: int = 0
    gold_reports: int = 0
    label_counts: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=dict
    )  # mode -> key -> status -> n
    counts: dict[str, dict[int, KeyTally]] = field(default_factory=dict)  # mode -> key id -> counts

    def as_dict(self, names: dict[int, str]) -> dict[str, Any]:
        evaluation = {}
        for mode, per_key in self.counts.items():
            total = KeyTally()
            for c in per_key.values():
                total.add(c)
            evaluation[mode] = {
                "keys": {names[k]: c.as_dict() for k, c in per_key.items()},
                "micro": total.as_dict(),
            }
        return {
            "schema_version": self.schema_version,
            "modes": self.modes,
            "rules_version": self.rules_version,
            "reports": self.reports,
            "labelled": self.labelled,
            "skipped_annotated": self.skipped_annotated,
            "gold_reports": self.gold_reports,
            "label_counts": self.label_counts,
            "evaluation": evaluation,
        }


def weak_label_job_create(
    *, modalities: Sequence[str], modes: Sequence[str], prune_older: bool, user: Any
) -> Job:
    unknown = [m for m in modes if m not in WEAK_MODES]
    if unknown or not modes:
        raise WeakLabelError(f"modes must be among {', '.join(WEAK_MODES)}")
    if RULE_ENGINE in modes:  # refuse now, not in the worker: building an engine takes milliseconds
        for modality in Modality.objects.filter(code__in=modalities):
            weak_label_engine(modality=modality)
    title = f"Weak labelling: {', '.join(modalities)} ({', '.join(modes)})"
    params = {"modalities": list(modalities), "modes": list(modes), "prune_older": prune_older}
    return job_create(kind=Job.Kind.WEAK_LABEL, title=title, params=params, user=user)


CHUNK_BODY = "annotations.services.weak_labels.weak_label_chunk"


def weak_label_job_work(job: Job) -> dict[str, Any]:
    """The task body (tasks.weak_label_task through jobs.services.job_run): the
    modalities' reports in chunks (jobs.chunks) that any heavy worker may run."""
    return chunked_job_work(job, body=CHUNK_BODY, plan=_job_plan, finish=_job_finish)


def _job_plan(job: Job) -> list[tuple[str, list[int]]]:
    """The cohort snapshot: every report of each modality, by id."""
    modalities = Modality.objects.filter(code__in=job.params["modalities"]).order_by("code")
    return [
        (m.code, list(Report.objects.filter(modality=m).order_by("pk").values_list("pk", flat=True)))
        for m in modalities
    ]


def weak_label_chunk(job: Job, chunk: JobChunk) -> None:
    """One chunk: label its reports (no transaction), then replace their labels and
    store the chunk's counts in one transaction (a redone chunk replaces, never adds)."""
    modality = Modality.objects.get(code=chunk.group)
    labeller = _labeller_for(job, modality)
    rows = list(Report.objects.filter(pk__in=chunk.report_ids).order_by("pk").values_list("pk", "text"))
    ids, sets = labeller.compute(rows)
    value_counts = labeller.value_counts([text for _, text in rows])
    with chunk_writes(chunk) as counts:
        labeller.write(ids, sets)
        counts.update(labeller.take_counts())
        # The chunk's share of every entity value's report_count, and the lexicon's version
        # it was counted with (_values_count adds them up when nothing changed since).
        counts["value_counts"] = {str(pk): n for pk, n in value_counts.items()}
        counts["schema_version"] = labeller.version


_labellers: dict[tuple[int, float, int, int], _Labeller] = {}


def _labeller_for(job: Job, modality: Modality) -> _Labeller:
    """One compiled labeller per job and modality in this process (chunks reuse it)."""
    modality.refresh_from_db(fields=["schema_version"])
    key = (job.pk, job.created_at.timestamp(), modality.pk, modality.schema_version)
    labeller = _labellers.get(key)
    if labeller is None:
        params = job.params
        labeller = _Labeller(
            modality, list(params["modes"]), prune_older=params.get("prune_older", False), job_id=job.pk
        )
        _labellers.clear()
        _labellers[key] = labeller
    return labeller


def _job_finish(job: Job, chunks: list[JobChunk]) -> dict[str, Any]:
    """The job's result: each modality's counts added up over its chunks."""
    out: dict[str, Any] = {}
    for modality in Modality.objects.filter(code__in=job.params["modalities"]).order_by("code"):
        modality.refresh_from_db(fields=["schema_version"])
        labeller = _Labeller(modality, list(job.params["modes"]), prune_older=False, job_id=job.pk)
        for chunk in chunks:
            if chunk.group == modality.code:
                labeller.add_counts(chunk.counts)
        run = labeller.run.as_dict(labeller.names)
        job_log(
            job_id=job.pk, line=f"{modality.code}: labelled {run['labelled']} of {run['reports']} reports"
        )
        job_chunks_progress(job_id=job.pk, message=f"{modality.code}: counting entity-value matches")
        run["values_counted"] = _values_count(modality, [c for c in chunks if c.group == modality.code])
        out[modality.code] = run
    return out


def _values_count(modality: Modality, chunks: list[JobChunk]) -> int:
    """Every entity value's report_count from the chunks' shares when they were counted
    with the current lexicon (every change of a value bumps schema_version) over what is
    still the modality's whole corpus (no report added or deleted since the plan);
    otherwise entity_values_count's scan, value by value."""
    values = list(EntityValue.objects.filter(key__entity_type__modality=modality))
    ids = [pk for c in chunks for pk in c.report_ids]
    corpus = Report.objects.filter(modality=modality).aggregate(n=Count("pk"), last=Max("pk"))
    totals: dict[int, int] = {}
    for chunk in chunks:
        counted_with = chunk.counts.get("schema_version")
        if counted_with != modality.schema_version or "value_counts" not in chunk.counts:
            return entity_values_count(modality=modality)
        for pk, n in chunk.counts["value_counts"].items():
            totals[int(pk)] = totals.get(int(pk), 0) + int(n)
    unchanged = corpus["n"] == len(ids) and corpus["last"] == max(ids, default=None)
    if not unchanged or set(totals) != {v.pk for v in values}:
        return entity_values_count(modality=modality)
    entity_value_counts_store(values=values, counts=totals)
    return len(values)


def weak_labels_run(
    *,
    modality: Modality,
    modes: Sequence[str],
    prune_older: bool = False,
    job_id: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Label and evaluate one modality; returns the run summary (see ModalityRun).
    With `prune_older`, labels of older schema versions (same modes) go too."""
    modality.refresh_from_db(fields=["schema_version"])
    labeller = _Labeller(modality, list(modes), prune_older=prune_older, job_id=job_id)
    total = Report.objects.filter(modality=modality).count()
    last_id = 0
    while True:
        rows = (
            Report.objects.filter(modality=modality, pk__gt=last_id).order_by("pk").values_list("pk", "text")
        )
        batch = list(rows[:BATCH_SIZE])
        if not batch:
            break
        last_id = batch[-1][0]
        labeller.batch(batch)
        if progress is not None:
            progress(
                labeller.run.reports, total, f"{modality.code}: {labeller.run.reports} of {total} reports"
            )
    return labeller.run.as_dict(labeller.names)


class _Labeller:
    """The state of one modality's run: its compiled lexicon, keys and counts."""

    def __init__(
        self, modality: Modality, modes: list[str], *, prune_older: bool, job_id: int | None
    ) -> None:
        self.version, self.modality_id = modality.schema_version, modality.pk
        self.counter: ValueCounter | None = None  # built on the first value_counts()
        # A fresh full compile, never the layered suggestion cache: labels must
        # follow longest-first matching over the whole lexicon.
        self.matcher = Matcher(selectors.modality_values(modality=modality))
        # The triggers admins maintain on the rules page, not only the shipped defaults.
        self.detector = selectors.site_detector(modality=modality) if KEYWORD_NEGATION in modes else None
        self.text_modes = [m for m in modes if m in MODES]
        self.engine = weak_label_engine(modality=modality) if RULE_ENGINE in modes else None
        keys = list(EntityKey.objects.filter(entity_type__modality=modality).select_related("entity_type"))
        self.names = {k.pk: k.name for k in keys}
        self.parents = {k.pk: k.parent_id for k in keys if k.parent_id}
        self.evaluated = [k.pk for k in keys if k.entity_type.role in EVALUATED_ROLES]
        self.prune_older, self.job_id = prune_older, job_id
        # The engine names keys; findings and details are what it reports on.
        self.engine_keys = {
            k.name: k.pk
            for k in keys
            if k.entity_type.role in (EntityType.Role.FINDING, EntityType.Role.DETAIL)
        }
        rules_version = self.engine.rules.version if self.engine is not None else ""
        self.run = ModalityRun(modality.code, self.version, modes, rules_version=rules_version)
        self.run.counts = {mode: {k: KeyTally() for k in self.evaluated} for mode in modes}

    def value_counts(self, texts: list[str]) -> dict[int, int]:
        """Every entity value of the modality -> how many of `texts` it matches on its own."""
        if self.counter is None:
            values = EntityValue.objects.filter(key__entity_type__modality_id=self.modality_id)
            self.counter = ValueCounter(values)
        return self.counter.count(texts)

    def batch(self, batch: list[tuple[int, str]]) -> None:
        self.write(*self.compute(batch))

    def take_counts(self) -> dict[str, Any]:
        """The counts since the last call (JSON), then a fresh run: one chunk's share."""
        run = self.run
        counts = {
            "reports": run.reports,
            "labelled": run.labelled,
            "skipped_annotated": run.skipped_annotated,
            "gold_reports": run.gold_reports,
            "label_counts": run.label_counts,
            "tallies": {
                mode: {str(k): [getattr(t, n) for n in TALLIES] for k, t in per_key.items()}
                for mode, per_key in run.counts.items()
            },
        }
        self.run = ModalityRun(run.modality, run.schema_version, run.modes, rules_version=run.rules_version)
        self.run.counts = {mode: {k: KeyTally() for k in self.evaluated} for mode in run.modes}
        return counts

    def add_counts(self, counts: dict[str, Any]) -> None:
        """Add one chunk's take_counts() to this run."""
        run = self.run
        for name in ("reports", "labelled", "skipped_annotated", "gold_reports"):
            setattr(run, name, getattr(run, name) + int(counts.get(name, 0)))
        for mode, per_key in (counts.get("label_counts") or {}).items():
            mine = run.label_counts.setdefault(mode, {})
            for key, statuses in per_key.items():
                per = mine.setdefault(key, {})
                for status, n in statuses.items():
                    per[status] = per.get(status, 0) + int(n)
        for mode, per_key in (counts.get("tallies") or {}).items():
            for key, values in per_key.items():
                tally = run.counts.setdefault(mode, {}).setdefault(int(key), KeyTally())
                tally.add(KeyTally(**dict(zip(TALLIES, values, strict=True))))

    def compute(
        self, batch: list[tuple[int, str]]
    ) -> tuple[list[int], list[tuple[WeakLabelSet, list[WeakLabel]]]]:
        """Label a batch and count it; returns what write() stores."""
        ids = [pk for pk, _ in batch]
        annotated = selectors.annotated_report_ids(report_ids=ids)
        gold = selectors.gold_assignment_ids(report_ids=ids)
        gold_statuses = selectors.key_statuses(assignment_ids=list(gold.values()))
        run = self.run
        sets: list[tuple[WeakLabelSet, list[WeakLabel]]] = []
        for report_id, text in batch:
            labels = self._labels(text)
            for mode in run.modes:
                by_key = _with_parents(labels[mode], self.parents)
                if report_id in gold:
                    _evaluate(run.counts[mode], by_key, gold_statuses[gold[report_id]], self.evaluated)
                if report_id not in annotated:
                    label_set = WeakLabelSet(
                        report_id=report_id,
                        mode=mode,
                        schema_version=self.version,
                        rules_version=run.rules_version if mode == RULE_ENGINE else "",
                        job_id=self.job_id,
                    )
                    sets.append(
                        (
                            label_set,
                            [
                                WeakLabel(key_id=k, status=lab.status, values=list(lab.values))
                                for k, lab in by_key.items()
                            ],
                        )
                    )
                    self._tally(mode, by_key)
        run.reports += len(batch)
        run.gold_reports += len(gold)
        run.skipped_annotated += len(annotated)
        run.labelled += len(batch) - len(annotated)
        return ids, sets

    def _labels(self, text: str) -> dict[str, dict[Any, KeyLabel]]:
        """mode -> key id -> label for one report, every mode of the run."""
        out: dict[str, dict[Any, KeyLabel]] = {}
        if self.text_modes:
            result = label_report(text, self.matcher, self.detector, modes=self.text_modes)
            out = {mode: result.by_mode(mode) for mode in self.text_modes}
        if self.engine is not None:
            out[RULE_ENGINE] = engine_labels(self.engine.extract(text), text, self.engine_keys)
        return out

    def _tally(self, mode: str, by_key: dict[Any, KeyLabel]) -> None:
        counts = self.run.label_counts.setdefault(mode, {})
        for key_id, label in by_key.items():
            per = counts.setdefault(self.names[key_id], {})
            per[label.status] = per.get(label.status, 0) + 1

    def write(self, ids: list[int], sets: list[tuple[WeakLabelSet, list[WeakLabel]]]) -> None:
        """Replace the batch's labels of this run's modes and schema version in one transaction."""
        with transaction.atomic():
            stale = WeakLabelSet.objects.filter(report_id__in=ids, mode__in=self.run.modes)
            stale = (
                stale.filter(schema_version__lte=self.version)
                if self.prune_older
                else stale.filter(schema_version=self.version)
            )
            # A first run finds none: one EXISTS instead of the delete collector's select and
            # two deletes. The two raw deletes are the cascade (nothing else points at a set).
            if stale.exists():
                WeakLabel.objects.filter(label_set__in=stale)._raw_delete(stale.db)
                stale._raw_delete(stale.db)
            WeakLabelSet.objects.bulk_create([s for s, _ in sets])
            rows = []
            for label_set, labels in sets:
                for label in labels:
                    label.label_set_id = label_set.pk
                    rows.append(label)
            rows_insert(
                WeakLabel,
                ("label_set", "key", "status", "values"),
                ((r.label_set_id, r.key_id, r.status, json.dumps(r.values)) for r in rows),
                objects=lambda: rows,
            )


def engine_labels(result: EngineResult, text: str, key_ids: dict[str, int]) -> dict[Any, KeyLabel]:
    """The rule engine's report-level verdict per key id. The values are the words of
    the deciding mention (what matched, as the keyword modes store the entity values);
    keys the schema does not know are left out."""
    out: dict[Any, KeyLabel] = {}
    for finding in result.findings:
        key_id = key_ids.get(finding.key)
        if key_id is None:
            continue
        span = finding.evidence_span
        values = (text[span[0] : span[1]],) if span else ()
        out[key_id] = KeyLabel(ENGINE_STATUS[finding.stage2_status], values)
    return out


def _with_parents(by_key: dict[Any, KeyLabel], parents: dict[int, int]) -> dict[Any, KeyLabel]:
    """A detail key found present makes its parent present ("stroke" -> "other non-tumor")."""
    out = dict(by_key)
    for key, label in by_key.items():
        parent = parents.get(key)
        if parent is None or not label.has_key:
            continue
        current = out.get(parent)
        if current is None or not current.has_key:
            values = (current.values if current else ()) + label.values
            out[parent] = KeyLabel(label.status, tuple(dict.fromkeys(values)))
    return out


def _evaluate(
    counts: dict[int, KeyTally], predicted: dict[Any, KeyLabel], gold: dict[int, str], keys: list[int]
) -> None:
    for key in keys:
        gold_status = gold.get(key)
        gold_has = gold_status is not None and gold_status != selectors.NEGATED
        label = predicted.get(key)
        has = label is not None and label.has_key
        c = counts[key]
        if gold_has:
            c.tp += has
            c.fn += not has
        else:
            c.fp += has
            c.tn += not has
            if gold_status == selectors.NEGATED:
                c.negated_gold += 1
                c.negated_called_present += has


def entity_values_count(*, modality: Modality) -> int:
    """Refresh report_count of every entity value of the modality."""
    values = list(EntityValue.objects.filter(key__entity_type__modality=modality).select_related("key"))
    for value in values:
        entity_value_count(value=value)
    return len(values)
