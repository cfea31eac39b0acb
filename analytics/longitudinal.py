"""Episode transitions of a brain MRI cohort, as the method's Figure 4. Plain Python.

    counts = cohort_transitions(patients, min_reports=3, single_diagnosis=True)
    counts.links     # [Link(diagnosis, source, target, count)], source/target are Node
    counts.paths     # one PatientPath per included (patient, diagnosis)

The method: "Within each patient's sequence of reports, the count was incremented
only when there was a change in the episode label, limited to a maximum of four
changes", over patients with at least three reports, using "the reports with
single diagnosis and episode, and patients with single diagnosis along the
sequence of reports". So, per patient, in study-date order:

1. a report counts when it has exactly one malignant diagnosis with an episode
   (with `single_diagnosis` off, every diagnosis-with-episode of a report counts,
   and each diagnosis of a patient becomes a path of its own);
2. with `single_diagnosis` on, a patient whose reports name more than one
   malignant diagnosis, or any report naming two, is left out;
3. a patient (diagnosis path) needs at least `min_reports` counted reports;
4. the episode sequence is collapsed where consecutive labels repeat, and cut after
   `max_changes` changes: states t0..t4. The Sankey starts at a node for the
   diagnosis, links it to the t0 state, then each state to the next.

`verified_only` keeps only reports whose episodes a clinician verified.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

MAX_CHANGES = 4


@dataclass(frozen=True, slots=True)
class ReportEpisodes:
    """One report of a patient: its date, each malignant diagnosis's episode (None
    when the diagnosis is present without an episode), and where they come from:
    "verified" by a clinician, "predicted" by stage 2, or "none" (not yet predicted)."""

    report_id: int
    when: date | datetime | None
    episodes: Mapping[str, str | None]
    source: str = "predicted"

    @property
    def verified(self) -> bool:
        return self.source == "verified"


@dataclass(frozen=True, slots=True)
class Node:
    step: int  # -1 for the diagnosis node, 0..4 for t0..t4
    label: str  # the diagnosis (step -1) or the episode

    @property
    def name(self) -> str:
        return self.label if self.step < 0 else f"t{self.step} {self.label}"


@dataclass(frozen=True, slots=True)
class Link:
    diagnosis: str
    source: Node
    target: Node
    count: int


@dataclass(frozen=True, slots=True)
class PatientPath:
    patient_id: str
    diagnosis: str
    states: tuple[str, ...]  # t0..tk, consecutive states differ
    report_ids: tuple[int, ...]


@dataclass(slots=True)
class CohortTransitions:
    paths: list[PatientPath]
    links: list[Link]
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> patients

    @property
    def n_patients(self) -> int:
        return len({p.patient_id for p in self.paths})

    def nodes(self) -> list[Node]:
        """Every node a link touches: diagnoses first, then t0..t4 in order."""
        seen = {n for link in self.links for n in (link.source, link.target)}
        return sorted(seen, key=lambda n: (n.step, n.label))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_patients": self.n_patients,
            "excluded": dict(self.excluded),
            "links": [
                {"diagnosis": k.diagnosis, "source": k.source.name, "target": k.target.name, "count": k.count}
                for k in self.links
            ],
        }


def collapse(episodes: Iterable[str], *, max_changes: int = MAX_CHANGES) -> tuple[str, ...]:
    """Drop repeats of the previous label, keep at most max_changes + 1 states."""
    states: list[str] = []
    for episode in episodes:
        if states and states[-1] == episode:
            continue
        if len(states) == max_changes + 1:
            break
        states.append(episode)
    return tuple(states)


def _sort_key(report: ReportEpisodes) -> tuple[int, float, int]:
    when = report.when
    if when is None:
        # Undated reports go last, in id order: they cannot be placed in time.
        return (1, 0.0, report.report_id)
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day, tzinfo=UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # stored in UTC
    return (0, when.timestamp(), report.report_id)


def cohort_transitions(
    patients: Mapping[str, Sequence[ReportEpisodes]],
    *,
    min_reports: int = 3,
    single_diagnosis: bool = True,
    verified_only: bool = False,
    max_changes: int = MAX_CHANGES,
) -> CohortTransitions:
    """Count the Sankey links of the cohort; see the module docstring for the rules."""
    paths: list[PatientPath] = []
    excluded: Counter[str] = Counter()
    for patient_id in sorted(patients):
        reports = sorted(patients[patient_id], key=_sort_key)
        if verified_only:
            reports = [r for r in reports if r.verified]
        with_episode = [(r, {d: e for d, e in r.episodes.items() if e}) for r in reports]
        with_episode = [(r, eps) for r, eps in with_episode if eps]
        if single_diagnosis:
            diagnoses = {d for r in reports for d in r.episodes}
            if len(diagnoses) > 1 or any(len(eps) > 1 for _, eps in with_episode):
                excluded["more than one diagnosis"] += 1
                continue
        per_diagnosis: dict[str, list[tuple[int, str]]] = {}
        for report, eps in with_episode:
            for diagnosis, episode in eps.items():
                per_diagnosis.setdefault(diagnosis, []).append((report.report_id, episode))
        if not per_diagnosis:
            excluded["no diagnosis with an episode"] += 1
            continue
        kept = False
        for diagnosis in sorted(per_diagnosis):
            series = per_diagnosis[diagnosis]
            if len(series) < min_reports:
                continue
            states = collapse((e for _, e in series), max_changes=max_changes)
            paths.append(PatientPath(patient_id, diagnosis, states, tuple(rid for rid, _ in series)))
            kept = True
        if not kept:
            excluded[f"fewer than {min_reports} reports"] += 1
    return CohortTransitions(paths=paths, links=_links(paths), excluded=dict(excluded))


def _links(paths: Sequence[PatientPath]) -> list[Link]:
    counts: Counter[tuple[str, Node, Node]] = Counter()
    for path in paths:
        previous = Node(-1, path.diagnosis)
        for step, state in enumerate(path.states):
            node = Node(step, state)
            counts[(path.diagnosis, previous, node)] += 1
            previous = node
    ordered = sorted(
        counts.items(), key=lambda item: (item[0][1].step, item[0][0], item[0][1].label, item[0][2].label)
    )
    return [Link(diagnosis, source, target, n) for (diagnosis, source, target), n in ordered]
