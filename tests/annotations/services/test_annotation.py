"""Writes of the annotation workspace: offsets (code points, Korean, astral
characters), overlapping and adjacent mentions, flags, pairs, learning values,
submit and reopen."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from annotations.models import Assignment, EntityValue, Mention, Relation
from annotations.services import annotation
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key

MIXED = "🫁 CT: 우상엽에 5 mm nodule 있음. GGO in RUL. 흉수 없음."


@pytest.fixture
def mine(annotator):
    report = ReportFactory(text=MIXED)
    return AssignmentFactory(report=report, annotator=annotator)


def create(assignment, user, key, surface, occurrence=0, **kwargs):
    text = assignment.report.text
    modality = assignment.report.modality.code
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(surface, start + 1)
    return annotation.mention_create(
        assignment=assignment,
        user=user,
        key_id=entity_key(key, modality).pk,
        start=start,
        end=start + len(surface),
        text=surface,
        **kwargs,
    )


def test_mention_offsets_are_code_points_after_an_astral_character_and_korean(mine, annotator):
    mention = create(mine, annotator, "right upper lobe", "우상엽")
    assert (mention.start, mention.end) == (6, 9)
    assert MIXED[mention.start : mention.end] == "우상엽"
    nodule = create(mine, annotator, "nodule", "nodule")
    assert MIXED[nodule.start : nodule.end] == "nodule"
    assert (nodule.start, nodule.end) == (16, 22)


def test_mention_whose_text_does_not_match_the_offsets_is_refused(mine, annotator):
    # What a browser counting UTF-16 units would send: the emoji counts twice.
    with pytest.raises(ValidationError, match="does not match"):
        annotation.mention_create(
            assignment=mine, user=annotator, key_id=entity_key("nodule").pk, start=17, end=23, text="nodule"
        )
    assert not Mention.objects.exists()


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 5), (6, 4), (0, len(MIXED) + 1), ("x", 3)])
def test_mention_offsets_outside_the_text_are_refused(mine, annotator, start, end):
    with pytest.raises(ValidationError):
        annotation.mention_create(
            assignment=mine, user=annotator, key_id=entity_key("nodule").pk, start=start, end=end
        )


def test_mention_edges_are_trimmed_of_whitespace(mine, annotator):
    start = MIXED.index(" nodule ")
    mention = annotation.mention_create(
        assignment=mine, user=annotator, key_id=entity_key("nodule").pk, start=start, end=start + 8
    )
    assert MIXED[mention.start : mention.end] == "nodule"


def test_overlapping_and_adjacent_mentions_are_kept(mine, annotator):
    whole = create(mine, annotator, "nodule", "5 mm nodule")
    inner = create(mine, annotator, "mass", "nodule")
    left = create(mine, annotator, "right upper lobe", "우상엽")
    adjacent = create(mine, annotator, "both lungs", "에")  # starts where the previous one ends
    assert adjacent.start == left.end
    assert whole.start < inner.start < inner.end == whole.end
    assert Mention.objects.filter(assignment=mine).count() == 4


def test_the_same_span_and_key_twice_is_refused(mine, annotator):
    create(mine, annotator, "nodule", "nodule")
    with pytest.raises(ValidationError, match="already marked"):
        create(mine, annotator, "nodule", "nodule")


def test_key_of_another_modality_is_refused(mine, annotator):
    with pytest.raises(ValidationError, match="modality"):
        annotation.mention_create(
            assignment=mine, user=annotator, key_id=entity_key("glioma", "brain_mri").pk, start=16, end=22
        )


def test_new_span_text_becomes_an_entity_value_and_bumps_the_schema_version(mine, annotator, chest_ct):
    version = chest_ct.schema_version
    create(mine, annotator, "nodule", "5 mm nodule")
    value = EntityValue.objects.get(key=entity_key("nodule"), text="5 mm nodule")
    assert value.created_by == annotator
    assert value.report_count is None  # counted later, not on the save path
    chest_ct.refresh_from_db()
    assert chest_ct.schema_version == version + 1


def test_span_already_expressed_by_a_value_adds_no_value(mine, annotator, chest_ct):
    before = EntityValue.objects.count()
    version = chest_ct.schema_version
    create(mine, annotator, "ground-glass opacity", "GGO")
    create(mine, annotator, "right upper lobe", "우상엽")
    assert EntityValue.objects.count() == before
    chest_ct.refresh_from_db()
    assert chest_ct.schema_version == version


def test_first_edit_moves_the_assignment_to_in_progress(mine, annotator):
    assert mine.status == Assignment.Status.TODO
    create(mine, annotator, "nodule", "nodule")
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.IN_PROGRESS


def test_negated_and_uncertain_exclude_each_other(mine, annotator):
    mention = create(mine, annotator, "pleural effusion", "흉수")
    annotation.mention_update(mention=mention, user=annotator, negated=True)
    annotation.mention_update(mention=mention, user=annotator, uncertain=True)
    mention.refresh_from_db()
    assert (mention.negated, mention.uncertain) == (False, True)
    annotation.mention_update(mention=mention, user=annotator, negated=True)
    mention.refresh_from_db()
    assert (mention.negated, mention.uncertain) == (True, False)


def test_lesion_is_paired_with_location_mentions_and_deleting_a_mention_removes_its_pairs(mine, annotator):
    nodule = create(mine, annotator, "nodule", "nodule")
    rul = create(mine, annotator, "right upper lobe", "우상엽")
    rul2 = create(mine, annotator, "right upper lobe", "RUL")
    first = annotation.relation_create(
        assignment=mine, user=annotator, source_mention_id=nodule.pk, target_mention_id=rul.pk
    )
    assert (first.source_key.name, first.target_key.name) == ("nodule", "right upper lobe")
    with pytest.raises(ValidationError, match="already paired"):
        annotation.relation_create(
            assignment=mine, user=annotator, source_mention_id=nodule.pk, target_mention_id=rul2.pk
        )
    ll = annotation.relation_create(
        assignment=mine, user=annotator, source_mention_id=nodule.pk, target_key_id=entity_key("left lung").pk
    )
    assert ll.target_mention is None
    annotation.mention_delete(mention=rul, user=annotator)
    assert list(Relation.objects.values_list("target_key__name", flat=True)) == ["left lung"]


def test_pair_on_implicit_location_key_and_wrong_target_type_are_refused(mine, annotator):
    effusion = create(mine, annotator, "pleural effusion", "흉수")
    nodule = create(mine, annotator, "nodule", "nodule")
    ggo = create(mine, annotator, "ground-glass opacity", "GGO")
    with pytest.raises(ValidationError, match="implicit"):
        annotation.relation_create(
            assignment=mine,
            user=annotator,
            source_mention_id=effusion.pk,
            target_key_id=entity_key("pleura").pk,
        )
    with pytest.raises(ValidationError, match="pairs with a Location key"):
        annotation.relation_create(
            assignment=mine, user=annotator, source_mention_id=nodule.pk, target_mention_id=ggo.pk
        )


def test_brain_diagnosis_pairs_with_an_episode(annotator, brain_mri):
    text = "Known metastasis, progressed. Meningioma, stable."
    assignment = AssignmentFactory(report=ReportFactory(text=text, modality=brain_mri), annotator=annotator)
    mets = create(assignment, annotator, "metastasis", "metastasis")
    prog = create(assignment, annotator, "progression", "progressed")
    mening = create(assignment, annotator, "non-malignant tumor", "Meningioma")
    relation = annotation.relation_create(
        assignment=assignment, user=annotator, source_mention_id=mets.pk, target_mention_id=prog.pk
    )
    assert relation.target_key.name == "progression"
    with pytest.raises(ValidationError, match="takes no pairs"):
        annotation.relation_create(
            assignment=assignment, user=annotator, source_mention_id=mening.pk, target_mention_id=prog.pk
        )


def test_someone_elses_assignment_cannot_be_edited(mine, clinician, admin_user):
    for user in (clinician, admin_user):
        with pytest.raises(PermissionDenied):
            create(mine, user, "nodule", "nodule")


def test_submit_with_issues_needs_force_and_submitted_work_is_read_only(mine, annotator):
    nodule = create(mine, annotator, "nodule", "nodule")
    annotation.mention_update(mention=nodule, user=annotator, negated=True)
    result = annotation.assignment_submit(assignment=mine, user=annotator)
    assert not result.submitted
    assert [i.code for i in result.issues] == ["findings_missing"]
    assert annotation.assignment_submit(assignment=mine, user=annotator, force=True).submitted
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.SUBMITTED and mine.submitted_at is not None
    with pytest.raises(ValidationError, match="submitted"):
        create(mine, annotator, "mass", "GGO")


def test_reopen_brings_a_submitted_annotation_back_unless_adjudicated(mine, annotator, admin_user):
    annotation.assignment_set_no_findings(assignment=mine, user=annotator, no_findings=True)
    assert annotation.assignment_submit(assignment=mine, user=annotator).submitted
    annotation.assignment_reopen(assignment=mine, user=annotator)
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.IN_PROGRESS
    annotation.assignment_submit(assignment=mine, user=annotator)
    AssignmentFactory(report=mine.report, annotator=admin_user, kind="adjudication", status="submitted")
    with pytest.raises(ValidationError, match="adjudicated"):
        annotation.assignment_reopen(assignment=mine, user=annotator)


def test_accepting_suggestions_skips_spans_already_marked(mine, annotator):
    start = MIXED.index("GGO")
    create(mine, annotator, "ground-glass opacity", "GGO")
    spans = [
        (entity_key("ground-glass opacity").pk, start, start + 3),
        (entity_key("right upper lobe").pk, start + 7, start + 10),
    ]
    assert len(annotation.mentions_accept(assignment=mine, user=annotator, spans=spans)) == 1
    assert sorted(Mention.objects.values_list("key__name", flat=True)) == [
        "ground-glass opacity",
        "right upper lobe",
    ]


def test_moving_a_mention_fixes_its_boundary_keeps_its_pairs_and_checks_the_text(mine, annotator):
    nodule = create(mine, annotator, "nodule", "nodule")
    rul = create(mine, annotator, "right upper lobe", "우상엽")
    annotation.relation_create(
        assignment=mine, user=annotator, source_mention_id=nodule.pk, target_mention_id=rul.pk
    )
    start = MIXED.index("5 mm nodule")
    moved = annotation.mention_update(
        mention=nodule, user=annotator, start=start, end=start + 11, text="5 mm nodule"
    )
    assert (moved.start, moved.end) == (start, start + 11)
    assert Relation.objects.get().source_mention_id == nodule.pk
    with pytest.raises(ValidationError, match="does not match"):
        annotation.mention_update(mention=nodule, user=annotator, start=0, end=3, text="CT:")
    with pytest.raises(ValidationError, match="both start and end"):
        annotation.mention_update(mention=nodule, user=annotator, start=0)


def test_moving_a_mention_onto_a_span_already_marked_with_its_key_is_refused(mine, annotator):
    first = create(mine, annotator, "nodule", "nodule")
    other = create(mine, annotator, "nodule", "GGO")
    with pytest.raises(ValidationError, match="already marked"):
        annotation.mention_update(
            mention=other, user=annotator, start=first.start, end=first.end, text="nodule"
        )


def test_a_key_that_is_not_a_number_is_a_validation_error(mine, annotator):
    nodule = create(mine, annotator, "nodule", "nodule")
    with pytest.raises(ValidationError, match="Choose a key"):
        annotation.mention_update(mention=nodule, user=annotator, key_id="abc")


def test_two_toggles_from_stale_copies_both_count(annotator):
    """Two tabs read the mention, then each toggles it: negated flips twice, back to
    where it was; each copy's write from its stale value would have lost one."""
    mention = MentionFactory(assignment__annotator=annotator, uncertain=True)
    tab_a, tab_b = Mention.objects.get(pk=mention.pk), Mention.objects.get(pk=mention.pk)
    after_a = annotation.mention_flag_toggle(mention=tab_a, user=annotator, flag="negated")
    assert (after_a.negated, after_a.uncertain) == (True, False)  # one flag clears the other
    after_b = annotation.mention_flag_toggle(mention=tab_b, user=annotator, flag="negated")
    assert (after_b.negated, after_b.uncertain) == (False, False)
    mention.refresh_from_db()
    assert (mention.negated, mention.uncertain) == (False, False)
    annotation.mention_flag_toggle(mention=tab_a, user=annotator, flag="uncertain")
    annotation.mention_flag_toggle(mention=tab_b, user=annotator, flag="uncertain")
    annotation.mention_flag_toggle(mention=tab_a, user=annotator, flag="uncertain")
    mention.refresh_from_db()
    assert (mention.negated, mention.uncertain) == (False, True)


def test_toggle_of_an_unknown_flag_is_refused(annotator):
    mention = MentionFactory(assignment__annotator=annotator)
    with pytest.raises(ValidationError, match="Nothing to change"):
        annotation.mention_flag_toggle(mention=mention, user=annotator, flag="key")
