"""The read model of the annotation workspace: everything the page, its htmx
fragments and the API show for one assignment, built in a fixed number of
queries (report, keys, mentions, relations; the lexicon is cached per schema
version).

Suggestions are the matches of the modality's current entity values in the
report (one pass of the compiled matcher) that are not marked yet with that key
at that span. Segments cut the report text at every mention and suggestion
boundary (highlight.segments), so overlapping and adjacent spans both show;
each segment knows the mentions and suggestions covering it. Report text is
only ever rendered escaped.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from annotations import selectors
from annotations.highlight import Span, segments
from annotations.models import Assignment, EntityKey, Mention, Relation
from annotations.permissions import PERM_ADJUDICATE, can_edit_assignment
from annotations.services.consistency import Issue, assignment_issues
from inference.ml.text.korean import particle_spans

# Two rows of twelve key shortcuts: the top row of the keyboard, then with shift.
# Twelve per row so that chest CT's 11 lesions take the plain row and its 11
# locations (pleura and mediastinum/hilum included) the shifted one.
ROW = "1234567890-="
CODES = {**{d: f"Digit{d}" for d in "1234567890"}, "-": "Minus", "=": "Equal"}


def key_shortcuts(group_sizes: list[int]) -> list[str]:
    """Shortcuts for keys listed by entity type (`group_sizes`, in order): a type
    that does not fit in what is left of the current row starts on the next one,
    so a type's keys share a row where they can; "" past the 24th (type-ahead only)."""
    slots = [*ROW, *(f"⇧{c}" for c in ROW)]
    out: list[str] = []
    at = 0
    for size in group_sizes:
        left = len(ROW) - at % len(ROW)
        if size > left and size <= len(ROW) and at + left < len(slots):
            at += left
        out += [slots[at + i] if at + i < len(slots) else "" for i in range(size)]
        at += size
    return out


@dataclass(frozen=True)
class KeyChoice:
    key: EntityKey
    shortcut: str  # "1".."=", "⇧1".."⇧=", or "" (type-ahead only)

    @property
    def code(self) -> str:
        """The KeyboardEvent.code the shortcut is bound to ("Digit1", "Minus"), with
        "+shift": layout independent, and Shift+1 is still Digit1."""
        if not self.shortcut:
            return ""
        return CODES[self.shortcut[-1]] + ("+shift" if self.shortcut.startswith("⇧") else "")


@dataclass(frozen=True)
class Suggestion:
    index: int
    key: EntityKey
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SegmentView:
    text: str
    start: int
    end: int
    css: str
    title: str
    mention_ids: str  # space-separated, for data attributes
    suggestion_ids: str


@dataclass(frozen=True)
class MentionRow:
    mention: Mention
    text: str
    targets: list[Mention]  # mentions it may be paired with
    target_keys: list[EntityKey]  # keys it may be paired with without a span
    relations: list[Relation]
    incoming: list[Relation]


@dataclass
class Workspace:
    assignment: Assignment
    editable: bool
    keys: list[KeyChoice]
    rows: list[MentionRow]
    relations: list[Relation]
    suggestions: list[Suggestion]
    segments: list[SegmentView]
    issues: list[Issue]
    texts: dict[int, str] = field(default_factory=dict)  # mention id -> its text
    position: selectors.QueuePosition | None = None

    @property
    def report(self) -> Any:
        return self.assignment.report

    def client_data(self) -> dict[str, Any]:
        """What annotate.js needs, as JSON (rendered with json_script, so escaped)."""
        key_names = {c.key.pk: c.key.name for c in self.keys}
        return {
            "mentions": [
                {
                    "id": row.mention.pk,
                    "key": row.mention.key_id,
                    "key_name": row.mention.key.name,
                    "type": row.mention.key.entity_type_id,
                    "pairs_with": row.mention.key.pairs_with_id if row.target_keys else None,
                    "start": row.mention.start,
                    "end": row.mention.end,
                    "text": row.text,
                }
                for row in self.rows
            ],
            "relations": [
                {"id": r.pk, "source": r.source_mention_id, "target": r.target_mention_id}
                for r in self.relations
            ],
            # Trailing Korean particles (우상엽|의): a selection that ends on one is trimmed.
            "particles": [list(span) for span in _particles(self.report.text)],
            "suggestions": [
                {
                    "i": s.index,
                    "key": s.key.pk,
                    "key_name": key_names.get(s.key.pk, ""),
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                }
                for s in self.suggestions
            ],
        }

    @property
    def key_groups(self) -> list[tuple[str, list[KeyChoice]]]:
        groups: dict[str, list[KeyChoice]] = {}
        for choice in self.keys:
            groups.setdefault(choice.key.entity_type.name, []).append(choice)
        return list(groups.items())


def workspace_build(
    *, assignment: Assignment, user: Any, with_suggestions: bool = True, before_submit: bool = False
) -> Workspace:
    report = assignment.report
    keys = selectors.modality_keys(modality=report.modality)
    mentions = list(selectors.assignment_mentions(assignment=assignment))
    relations = list(selectors.assignment_relations(assignment=assignment))
    editable = (
        can_edit_assignment(user, assignment)
        and assignment.status != Assignment.Status.SUBMITTED
        and assignment.report.superseded_at is None  # a corrected report's old revision is read-only
    )
    suggestions = (
        _suggestions(assignment, keys, mentions, hidden=_hidden_values(assignment, user))
        if with_suggestions and editable
        else []
    )
    sizes: dict[int, int] = {}
    for k in keys:
        sizes[k.entity_type_id] = sizes.get(k.entity_type_id, 0) + 1
    return Workspace(
        assignment=assignment,
        editable=editable,
        keys=[KeyChoice(k, s) for k, s in zip(keys, key_shortcuts(list(sizes.values())), strict=True)],
        rows=_rows(report.text, keys, mentions, relations),
        relations=relations,
        suggestions=suggestions,
        segments=_segments(report.text, mentions, suggestions),
        issues=assignment_issues(
            assignment=assignment, mentions=mentions, relations=relations, before_submit=before_submit
        ),
        texts={m.pk: report.text[m.start : m.end] for m in mentions},
        position=selectors.assignment_position(user=user, assignment=assignment),
    )


@functools.lru_cache(maxsize=256)
def _particles(text: str) -> list[tuple[int, int]]:
    # Every edit re-renders the workspace: analyse each report text once.
    return particle_spans(text)


def _hidden_values(assignment: Assignment, user: Any) -> set[int]:
    """Values an open annotation must not be offered: those others may have learned
    from this report (blind double annotation; adjudicators are not blind)."""
    if assignment.kind != Assignment.Kind.ANNOTATION or user.has_perm(PERM_ADJUDICATE):
        return set()
    return selectors.values_learned_by_others(assignment=assignment)


def _suggestions(
    assignment: Assignment, keys: list[EntityKey], mentions: list[Mention], *, hidden: set[int]
) -> list[Suggestion]:
    by_id: dict[Hashable, EntityKey] = {k.pk: k for k in keys}  # the matcher's keys are key ids
    marked = {(m.key_id, m.start, m.end) for m in mentions}
    text = assignment.report.text
    out: list[Suggestion] = []
    for match in selectors.modality_matcher(modality=assignment.report.modality).find(text):
        offered = {v.key for v in match.values if v.id not in hidden}
        for key_id in match.keys:
            key = by_id.get(key_id) if key_id in offered else None
            if key is not None and (key.pk, match.start, match.end) not in marked:
                out.append(Suggestion(len(out), key, match.start, match.end, text[match.start : match.end]))
    return out


def mention_css(mention: Mention) -> tuple[str, str]:
    flags = [f for f, on in (("negated", mention.negated), ("uncertain", mention.uncertain)) if on]
    css = " ".join(["m", f"ent-{mention.key.entity_type.role}", *flags])
    return css, mention.key.name + "".join(f" ({f})" for f in flags)


def _segments(text: str, mentions: list[Mention], suggestions: list[Suggestion]) -> list[SegmentView]:
    owner: dict[Span, tuple[str, int]] = {}
    spans = []
    for m in mentions:
        css, title = mention_css(m)
        span = Span(m.start, m.end, f"{css} m-{m.pk}", title)
        owner[span] = ("m", m.pk)
        spans.append(span)
    for s in suggestions:
        span = Span(s.start, s.end, "sugg", f"suggestion: {s.key.name}")
        owner.setdefault(span, ("s", s.index))
        spans.append(span)
    out = []
    for seg in segments(text, spans):
        mention_ids = [str(owner[s][1]) for s in seg.spans if owner[s][0] == "m"]
        suggestion_ids = [str(s.index) for s in suggestions if s.start <= seg.start and seg.end <= s.end]
        css = " ".join(dict.fromkeys(c for s in seg.spans for c in s.css.split() if not c.startswith("m-")))
        out.append(
            SegmentView(
                seg.text, seg.start, seg.end, css, seg.title, " ".join(mention_ids), " ".join(suggestion_ids)
            )
        )
    return out


def _rows(
    text: str, keys: list[EntityKey], mentions: list[Mention], relations: list[Relation]
) -> list[MentionRow]:
    by_type: dict[int, list[EntityKey]] = {}
    for key in keys:
        by_type.setdefault(key.entity_type_id, []).append(key)
    outgoing: dict[int, list[Relation]] = {}
    incoming: dict[int, list[Relation]] = {}
    for r in relations:
        if r.source_mention_id:
            outgoing.setdefault(r.source_mention_id, []).append(r)
        if r.target_mention_id:
            incoming.setdefault(r.target_mention_id, []).append(r)
    rows = []
    for m in mentions:
        pairs_with = m.key.pairs_with_id if m.key.entity_type.role == "finding" else None
        targets = [t for t in mentions if pairs_with and t.key.entity_type_id == pairs_with]
        rows.append(
            MentionRow(
                mention=m,
                text=text[m.start : m.end],
                targets=targets,
                target_keys=by_type.get(pairs_with, []) if pairs_with else [],
                relations=outgoing.get(m.pk, []),
                incoming=incoming.get(m.pk, []),
            )
        )
    return rows
