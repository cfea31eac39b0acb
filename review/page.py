"""The read model of the review screen: highlighted report, grouped findings,
the chest CT lesion x location grid, and the choices of the edit forms.

Highlights: every entity value of the modality found in the text (one regex
pass, the annotation workspace's cached matcher), coloured by entity type and
marked negated or uncertain by the assertion triggers admins maintain (the
site's detector, rebuilt when the rules change); plus each finding's evidence
span, which the page emphasises when the finding is hovered or focused.
Report text is cut into segments the template renders escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString

from annotations import selectors as annotation_selectors
from annotations.highlight import Span, segments
from annotations.models import EntityKey, EntityType, Modality
from inference.ml.llm.mapping import FLAG_UNMATCHED
from inference.ml.text.assertion import NEGATED, UNCERTAIN
from review import html
from review.flags import FLAG_LABELS, HALLUCINATION_FLAGS, approval_warnings, needs_evidence
from review.models import ReviewDecision, ReviewFinding, ReviewReport

# Who decided a combined finding (its `ai["source"]`), and the order sources are listed in.
SOURCE_LABELS = {"rules": "Rules", "stage1": "Stage 1", "llm": "LLM", "rules+llm": "Rules + LLM"}
SOURCE_ORDER = ("rules", "stage1", "llm")


@dataclass(frozen=True)
class SchemaKeys:
    by_id: dict[int, tuple[str, str]]  # key id -> (name, role)
    findings: list[str]
    paired_lesions: list[str]  # chest CT: the 9 lesions that take locations
    locations: list[str]
    episodes: list[str]
    details: list[str]


_schema_cache: dict[tuple[int, int], SchemaKeys] = {}


def schema_keys(modality: Modality) -> SchemaKeys:
    """The modality's keys by role, cached per process and schema version."""
    cache_key = (modality.pk, modality.schema_version)
    found = _schema_cache.get(cache_key)
    if found is not None:
        return found
    rows = list(
        EntityKey.objects.filter(entity_type__modality=modality, is_active=True)
        .order_by("entity_type__order", "order", "name")
        .values_list("id", "name", "entity_type__role", "pairs_with_id")
    )
    by_role: dict[str, list[str]] = {}
    for _, name, role, _ in rows:
        by_role.setdefault(role, []).append(name)
    keys = SchemaKeys(
        by_id={pk: (name, role) for pk, name, role, _ in rows},
        findings=by_role.get(EntityType.Role.FINDING, []),
        paired_lesions=[n for _, n, role, pw in rows if role == EntityType.Role.FINDING and pw is not None],
        locations=by_role.get(EntityType.Role.LOCATION, []),
        episodes=by_role.get(EntityType.Role.EPISODE, []),
        details=by_role.get(EntityType.Role.DETAIL, []),
    )
    _schema_cache[cache_key] = keys
    return keys


@dataclass
class Seg:
    text: str
    start: int
    end: int
    css: str
    title: str


@dataclass
class FindingView:
    f: ReviewFinding
    keys: SchemaKeys
    children: list[FindingView] = field(default_factory=list)

    @property
    def key_options(self) -> SafeString:
        choices = self.keys.details if self.f.kind == ReviewFinding.Kind.NON_TUMOR else self.keys.findings
        return html.options_html(choices, self.f.key)

    @property
    def location_checks(self) -> SafeString:
        return html.checkboxes_html("locations", self.keys.locations, self.f.locations or [])

    @property
    def episode_options(self) -> SafeString:
        return html.options_html(self.keys.episodes, self.f.episode)

    @property
    def hallucination(self) -> bool:
        return bool(HALLUCINATION_FLAGS & set(self.f.flags or []))

    @property
    def hallucination_text(self) -> str:
        """Why the AI's claim may be made up; after a clinician chose the evidence, say so."""
        flags = set(self.f.flags or [])
        said = (
            "the AI's quote does not occur in the report"
            if FLAG_UNMATCHED in flags
            else "the text negates it"
        )
        if self.f.is_decided and self.f.ai and self.f.evidence != (self.f.ai.get("evidence") or ""):
            who = self.f.decided_by.get_username() if self.f.decided_by else "a clinician"
            said += f"; the evidence shown was selected by {who}"
        return said

    @property
    def warnings(self) -> list[str]:
        """What the approve step names before a flagged finding may be approved."""
        return approval_warnings(self.f)

    @property
    def needs_evidence(self) -> bool:
        return needs_evidence(self.f)

    @property
    def reason_label(self) -> str:
        code = self.f.reason_code
        return str(dict(ReviewDecision.Reason.choices).get(code, code))

    @property
    def other_flags(self) -> list[tuple[str, str]]:
        """(code, label) of the flags that are not about hallucination."""
        return [(x, FLAG_LABELS.get(x, x)) for x in self.f.flags or [] if x not in HALLUCINATION_FLAGS]

    @property
    def decided_by_source(self) -> str:
        """A combined finding's deciding source ("" for the other modes' findings)."""
        ai = self.f.ai or {}
        if not isinstance(ai.get("sources"), dict):
            return ""
        source = str(ai.get("source") or "")
        return SOURCE_LABELS.get(source, source)

    @property
    def other_verdicts(self) -> list[tuple[str, str]]:
        """(source label, verdict) of the sources that did not decide the finding."""
        ai = self.f.ai or {}
        sources = ai.get("sources")
        if not isinstance(sources, dict):
            return []
        deciding = set(str(ai.get("source") or "").split("+"))
        return [
            (SOURCE_LABELS[name], verdict_text(name, sources[name]))
            for name in SOURCE_ORDER
            if name not in deciding and isinstance(sources.get(name), dict)
        ]


def verdict_text(source: str, verdict: dict[str, Any]) -> str:
    """One source's verdict in words: "0.91 present", "negated (historical)", "not mentioned"."""
    if source == "stage1":
        prob = verdict.get("prob")
        said = "present" if verdict.get("present") else "absent"
        return f"{float(prob):.2f} {said}" if isinstance(prob, int | float) else said
    status = verdict.get("status")
    if not status:
        return "not mentioned"
    text = str(status)
    assertion = verdict.get("assertion")
    if assertion and assertion not in (status, "positive"):
        text += f" ({assertion})"
    locations = [str(x) for x in verdict.get("locations") or []]
    if locations and status in ("present", "uncertain"):
        text += " in " + ", ".join(locations)
    return text


@dataclass
class AddForm:
    """The "add a missed finding" form, empty or pre-filled from a selected span."""

    keys: SchemaKeys
    is_brain: bool
    start: int | None = None
    end: int | None = None
    selected: str = ""
    key: str = ""
    locations: list[str] = field(default_factory=list)
    episode: str = ""

    @property
    def key_options(self) -> SafeString:
        # A blank first choice: nothing is added under a key nobody chose.
        blank = SafeString('<option value="">Choose the finding…</option>')
        return (
            blank
            + html.options_html(self.keys.findings, self.key)
            + html.options_html(self.keys.details, self.key, suffix=" (detail)")
        )

    @property
    def location_checks(self) -> SafeString:
        return html.checkboxes_html("locations", self.keys.locations, self.locations)

    @property
    def episode_options(self) -> SafeString:
        return html.options_html(self.keys.episodes, self.episode)


def add_prefill(*, review: ReviewReport, start: int, end: int) -> AddForm:
    """The add form for the span [start, end) of the report: the first finding key
    whose entity value the span overlaps (the modality's lexicon, as highlighted),
    and the locations / episode named inside it."""
    report = review.report
    keys = schema_keys(report.modality)
    form = AddForm(
        keys=keys,
        is_brain=report.modality.code == "brain_mri",
        start=start,
        end=end,
        selected=report.text[start:end],
    )
    for m in annotation_selectors.modality_matcher(modality=report.modality).find(report.text):
        if m.end <= start or m.start >= end:
            continue
        for k in m.keys:
            name, role = keys.by_id.get(k, ("", "")) if isinstance(k, int) else ("", "")
            if role in (EntityType.Role.FINDING, EntityType.Role.DETAIL) and not form.key:
                form.key = name
            elif role == EntityType.Role.LOCATION and name not in form.locations:
                form.locations.append(name)
            elif role == EntityType.Role.EPISODE and not form.episode:
                form.episode = name
    return form


@dataclass
class GridCell:
    location: str
    ticked: bool
    by_ai: bool
    finding: ReviewFinding | None


@dataclass
class ReviewPage:
    review: ReviewReport
    segments: list[Seg]
    groups: list[FindingView]
    grid: list[tuple[str, list[GridCell]]]
    keys: SchemaKeys
    reasons: list[tuple[int, str, str]]  # (number key, code, label)
    is_brain: bool
    editable: bool
    holder: Any = None

    @property
    def text_html(self) -> SafeString:
        return html.segments_html(self.segments)

    @property
    def grid_html(self) -> SafeString:
        return html.grid_html(self.grid, self.keys.locations, editable=self.editable)

    @property
    def add(self) -> AddForm:
        return AddForm(keys=self.keys, is_brain=self.is_brain)

    @property
    def pending(self) -> int:
        return sum(1 for g in self.all_findings if g.status == ReviewFinding.Status.PENDING)

    @property
    def all_findings(self) -> list[ReviewFinding]:
        return [v.f for g in self.groups for v in (g, *g.children)]


def highlight(text: str, modality: Modality, keys: SchemaKeys, findings: list[ReviewFinding]) -> list[Seg]:
    matches = [
        (m.start, m.end, keys.by_id[k])
        for m in annotation_selectors.modality_matcher(modality=modality).find(text)
        for k in m.keys[:1]
        if isinstance(k, int) and k in keys.by_id  # the modality matcher's keys are key ids
    ]
    spans_of = [(s, e) for s, e, _ in matches]
    statuses = (
        annotation_selectors.site_detector(modality=modality).statuses(text, spans_of) if matches else []
    )
    spans = []
    for (start, end, (name, role)), status in zip(matches, statuses, strict=True):
        flag = " negated" if status == NEGATED else (" uncertain" if status == UNCERTAIN else "")
        spans.append(Span(start, end, f"m ent-{role}{flag}", name + (f" ({status})" if flag else "")))
    for f in findings:
        if f.evidence_start is not None and f.evidence_end is not None:
            spans.append(Span(f.evidence_start, f.evidence_end, "ev", ""))
    return [Seg(s.text, s.start, s.end, s.css, s.title) for s in segments(text, spans)]


def _groups(findings: list[ReviewFinding], keys: SchemaKeys) -> list[FindingView]:
    """Findings in schema order (the method's order), non-tumor details under "other non-tumor"."""
    order = {name: i for i, name in enumerate([*keys.findings, *keys.details])}
    findings = sorted(findings, key=lambda f: (order.get(f.key, len(order)), f.pk))
    views = [FindingView(f, keys) for f in findings if f.kind != ReviewFinding.Kind.NON_TUMOR]
    parent = next((v for v in views if v.f.key == "other non-tumor"), None)
    for f in findings:
        if f.kind == ReviewFinding.Kind.NON_TUMOR:
            if parent is not None:
                parent.children.append(FindingView(f, keys))
            else:
                views.append(FindingView(f, keys))
    return views


def _grid(keys: SchemaKeys, findings: list[ReviewFinding]) -> list[tuple[str, list[GridCell]]]:
    live = {f.key: f for f in findings if f.status != ReviewFinding.Status.REJECTED}
    rows = []
    for lesion in keys.paired_lesions:
        f = live.get(lesion)
        current = set(f.locations or []) if f else set()
        ai = set((f.ai or {}).get("locations") or []) if f and f.ai else set()
        cells = [GridCell(loc, loc in current, loc in ai, f) for loc in keys.locations]
        rows.append((lesion, cells))
    return rows


def review_page(
    *, review: ReviewReport, findings: list[ReviewFinding], editable: bool, holder: Any = None
) -> ReviewPage:
    report = review.report
    keys = schema_keys(report.modality)
    is_brain = report.modality.code == "brain_mri"
    return ReviewPage(
        review=review,
        segments=highlight(report.text, report.modality, keys, findings),
        groups=_groups(findings, keys),
        grid=[] if is_brain else _grid(keys, findings),
        keys=keys,
        reasons=[(n, code, label) for n, (code, label) in enumerate(ReviewDecision.Reason.choices, start=1)],
        is_brain=is_brain,
        editable=editable,
        holder=holder,
    )
