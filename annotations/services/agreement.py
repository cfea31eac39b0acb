"""Inter-annotator agreement between two annotators on the reports both submitted.

Definitions (what the page and the API report, and what the tests pin):

* Report-level Cohen's kappa per entity key: on each report an annotator "has"
  the key when they marked it present or uncertain (any non-negated mention;
  a detail key makes its parent present, as in the gold files).
  kappa = (p_o - p_e) / (1 - p_e); undefined (None) when p_e = 1, i.e. both
  annotators gave every report the same single answer for that key.
* Span-level F1: a span counts as matched when both marked exactly the same
  [start, end) with the same key; F1 = 2·matched / (spans_a + spans_b)
  (symmetric; precision and recall take A as the reference). Negated/uncertain
  flags are not part of the match; "assertion agreement" is the share of
  matched spans whose flags agree too.
* Pair (relation) agreement: for every report and finding key that takes pairs
  and that both marked present or uncertain, whether the two sets of paired
  location/episode keys are equal; plus a pair F1 over (report, finding, target)
  triples of those findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotations import selectors
from annotations.models import Assignment, EntityKey, Mention, Modality, Relation

Span = tuple[int, int, int]  # key id, start, end


@dataclass(frozen=True)
class Version:
    """What agreement compares of one annotator's version of one report."""

    keys: frozenset[int]  # keys present or uncertain
    spans: dict[Span, tuple[bool, bool]]  # -> (negated, uncertain)
    pairs: dict[int, frozenset[int]]  # finding key -> paired target keys


@dataclass(frozen=True)
class KeyAgreement:
    key_id: int
    name: str
    both: int
    only_a: int
    only_b: int
    neither: int
    kappa: float | None

    @property
    def observed(self) -> float:
        n = self.both + self.only_a + self.only_b + self.neither
        return (self.both + self.neither) / n if n else 0.0


@dataclass(frozen=True)
class PairKeyAgreement:
    key_id: int
    name: str
    findings: int
    equal: int

    @property
    def rate(self) -> float | None:
        return self.equal / self.findings if self.findings else None


@dataclass
class AgreementResult:
    reports: int
    keys: list[KeyAgreement] = field(default_factory=list)
    spans_a: int = 0
    spans_b: int = 0
    spans_matched: int = 0
    assertions_agree: int = 0
    pair_keys: list[PairKeyAgreement] = field(default_factory=list)
    pair_triples_a: int = 0
    pair_triples_b: int = 0
    pair_triples_matched: int = 0
    report_ids: list[int] = field(default_factory=list)

    @property
    def span_f1(self) -> float | None:
        total = self.spans_a + self.spans_b
        return 2 * self.spans_matched / total if total else None

    @property
    def span_precision(self) -> float | None:
        return self.spans_matched / self.spans_b if self.spans_b else None

    @property
    def span_recall(self) -> float | None:
        return self.spans_matched / self.spans_a if self.spans_a else None

    @property
    def assertion_agreement(self) -> float | None:
        return self.assertions_agree / self.spans_matched if self.spans_matched else None

    @property
    def pair_findings(self) -> int:
        return sum(p.findings for p in self.pair_keys)

    @property
    def pair_equal(self) -> int:
        return sum(p.equal for p in self.pair_keys)

    @property
    def pair_agreement(self) -> float | None:
        return self.pair_equal / self.pair_findings if self.pair_findings else None

    @property
    def pair_f1(self) -> float | None:
        total = self.pair_triples_a + self.pair_triples_b
        return 2 * self.pair_triples_matched / total if total else None

    @property
    def mean_kappa(self) -> float | None:
        values = [k.kappa for k in self.keys if k.kappa is not None]
        return sum(values) / len(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "mean_kappa": self.mean_kappa,
            "keys": [
                {
                    "key": k.name,
                    "both": k.both,
                    "only_a": k.only_a,
                    "only_b": k.only_b,
                    "neither": k.neither,
                    "observed_agreement": k.observed,
                    "kappa": k.kappa,
                }
                for k in self.keys
            ],
            "spans": {
                "definition": "exact (key, start, end) match",
                "a": self.spans_a,
                "b": self.spans_b,
                "matched": self.spans_matched,
                "precision": self.span_precision,
                "recall": self.span_recall,
                "f1": self.span_f1,
                "assertion_agreement": self.assertion_agreement,
            },
            "pairs": {
                "findings_both_marked": self.pair_findings,
                "location_sets_equal": self.pair_equal,
                "agreement": self.pair_agreement,
                "triple_f1": self.pair_f1,
                "keys": [
                    {"key": p.name, "findings": p.findings, "equal": p.equal, "agreement": p.rate}
                    for p in self.pair_keys
                ],
            },
        }


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary ratings of the same items; None when chance
    agreement is 1 (both raters constant and equal) or there are no items."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def agreement_compute(
    *, versions: Sequence[tuple[Version, Version]], keys: Sequence[tuple[int, str]], pairable: set[int]
) -> AgreementResult:
    """The figures for aligned (A, B) versions of the same reports. `keys` are the
    keys to report kappa for, `pairable` the finding keys that take pairs."""
    result = AgreementResult(reports=len(versions))
    for key_id, name in keys:
        a = [va.keys.__contains__(key_id) for va, _ in versions]
        b = [vb.keys.__contains__(key_id) for _, vb in versions]
        both = sum(x and y for x, y in zip(a, b, strict=True))
        only_a = sum(x and not y for x, y in zip(a, b, strict=True))
        only_b = sum(y and not x for x, y in zip(a, b, strict=True))
        result.keys.append(
            KeyAgreement(
                key_id, name, both, only_a, only_b, len(a) - both - only_a - only_b, cohen_kappa(a, b)
            )
        )
    pair_counts: dict[int, list[int]] = {}
    for va, vb in versions:
        result.spans_a += len(va.spans)
        result.spans_b += len(vb.spans)
        matched = va.spans.keys() & vb.spans.keys()
        result.spans_matched += len(matched)
        result.assertions_agree += sum(va.spans[s] == vb.spans[s] for s in matched)
        for key_id in sorted(va.keys & vb.keys & pairable):
            ta, tb = va.pairs.get(key_id, frozenset()), vb.pairs.get(key_id, frozenset())
            counts = pair_counts.setdefault(key_id, [0, 0])
            counts[0] += 1
            counts[1] += ta == tb
            result.pair_triples_a += len(ta)
            result.pair_triples_b += len(tb)
            result.pair_triples_matched += len(ta & tb)
    names = dict(keys)
    result.pair_keys = [
        PairKeyAgreement(key_id, names.get(key_id, str(key_id)), n, equal)
        for key_id, (n, equal) in sorted(pair_counts.items())
    ]
    return result


def versions_load(*, assignment_ids: Sequence[int]) -> dict[int, Version]:
    """assignment id -> Version (three queries)."""
    statuses = selectors.key_statuses(assignment_ids=assignment_ids)
    spans: dict[int, dict[Span, tuple[bool, bool]]] = {a: {} for a in assignment_ids}
    for assignment_id, key_id, start, end, negated, uncertain in Mention.objects.filter(
        assignment_id__in=assignment_ids
    ).values_list("assignment_id", "key_id", "start", "end", "negated", "uncertain"):
        spans[assignment_id][(key_id, start, end)] = (negated, uncertain)
    pairs: dict[int, dict[int, set[int]]] = {a: {} for a in assignment_ids}
    for assignment_id, source_key, target_key, negated in Relation.objects.filter(
        assignment_id__in=assignment_ids
    ).values_list("assignment_id", "source_key_id", "target_key_id", "source_mention__negated"):
        if not negated:  # a negated finding has no location
            pairs[assignment_id].setdefault(source_key, set()).add(target_key)
    return {
        a: Version(
            keys=frozenset(k for k, s in statuses[a].items() if s != selectors.NEGATED),
            spans=spans[a],
            pairs={k: frozenset(t) for k, t in pairs[a].items()},
        )
        for a in assignment_ids
    }


def agreement_for(*, modality: Modality, annotator_a: Any, annotator_b: Any) -> AgreementResult:
    """Agreement of two annotators over every report of `modality` both submitted."""
    rows = Assignment.objects.filter(
        kind=Assignment.Kind.ANNOTATION,
        status=Assignment.Status.SUBMITTED,
        report__modality=modality,
        annotator__in=[annotator_a, annotator_b],
    ).values_list("report_id", "annotator_id", "id")
    by_report: dict[int, dict[int, int]] = {}
    for report_id, annotator_id, assignment_id in rows:
        by_report.setdefault(report_id, {})[annotator_id] = assignment_id
    aligned = sorted((r, a[annotator_a.pk], a[annotator_b.pk]) for r, a in by_report.items() if len(a) == 2)
    versions = versions_load(assignment_ids=[x for _, a, b in aligned for x in (a, b)])
    keys = list(
        EntityKey.objects.filter(entity_type__modality=modality, is_active=True)
        .order_by("entity_type__order", "order", "name")
        .values_list("id", "name", "pairs_with_id")
    )
    result = agreement_compute(
        versions=[(versions[a], versions[b]) for _, a, b in aligned],
        keys=[(k, name) for k, name, _ in keys],
        pairable={k for k, _, pairs_with in keys if pairs_with is not None},
    )
    result.report_ids = [r for r, _, _ in aligned]
    return result
