"""The workspace read model: segments for overlapping spans, suggestions, and the
cached lexicon that follows value changes."""

from annotations import selectors
from annotations.models import EntityValue
from annotations.services import annotation
from annotations.services.values import entity_value_delete
from annotations.workspace import workspace_build
from inference.ml.text.matcher import LayeredMatcher, Matcher
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key


def test_segments_carry_every_mention_and_suggestion_covering_them(annotator):
    text = "Ground glass opacity in RUL."
    assignment = AssignmentFactory(report=ReportFactory(text=text), annotator=annotator)
    outer = MentionFactory(assignment=assignment, key=entity_key("ground-glass opacity"), start=0, end=20)
    inner = MentionFactory(assignment=assignment, key=entity_key("mass"), start=7, end=12)
    ws = workspace_build(assignment=assignment, user=annotator)
    by_text = {s.text: s for s in ws.segments}
    assert by_text["glass"].mention_ids == f"{outer.pk} {inner.pk}"
    assert "ent-finding" in by_text["glass"].css
    assert [(s.key.name, s.text) for s in ws.suggestions] == [("right upper lobe", "RUL")]
    assert by_text["RUL"].suggestion_ids == "0"
    assert "".join(s.text for s in ws.segments) == text


def test_suggestions_exclude_spans_marked_with_that_key(annotator):
    text = "Nodule in RUL."
    assignment = AssignmentFactory(report=ReportFactory(text=text), annotator=annotator)
    MentionFactory(assignment=assignment, key=entity_key("nodule"), start=0, end=6)
    ws = workspace_build(assignment=assignment, user=annotator)
    assert [s.text for s in ws.suggestions] == ["RUL"]


def test_a_learned_value_is_suggested_at_once_without_recompiling_the_lexicon(annotator, chest_ct):
    first = AssignmentFactory(report=ReportFactory(text="Tree-in-bud pattern, RLL."), annotator=annotator)
    second = AssignmentFactory(report=ReportFactory(text="New tree-in-bud pattern."), annotator=annotator)
    workspace_build(assignment=second, user=annotator)  # compiles and caches the lexicon
    chest_ct.refresh_from_db()
    base = selectors.modality_matcher(modality=chest_ct)
    assert isinstance(base, Matcher)
    annotation.mention_create(
        assignment=first, user=annotator, key_id=entity_key("nodule").pk, start=0, end=19
    )
    second.report.modality.refresh_from_db()
    ws = workspace_build(assignment=second, user=annotator)
    assert [s.text for s in ws.suggestions] == ["tree-in-bud pattern"]
    layered = selectors.modality_matcher(modality=second.report.modality)
    assert isinstance(layered, LayeredMatcher) and layered.base is base
    entity_value_delete(value=EntityValue.objects.get(text="tree-in-bud pattern"))
    chest_ct.refresh_from_db()
    assert isinstance(selectors.modality_matcher(modality=chest_ct), Matcher)  # a deletion compiles afresh
