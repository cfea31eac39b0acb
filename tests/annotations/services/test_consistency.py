"""Consistency checks shown while annotating and before submit."""

import pytest

from annotations.services.consistency import assignment_issues
from annotations.services.rules import trigger_create
from inference.ml.text.triggers import FWD, NEG
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key

pytestmark = pytest.mark.django_db


def codes(assignment, **kwargs):
    return [i.code for i in assignment_issues(assignment=assignment, **kwargs)]


def make(text: str, **kwargs):
    return AssignmentFactory(report=ReportFactory(text=text), **kwargs)


def test_a_clean_version_has_no_issues():
    a = make("Nodule in RUL.")
    nodule = MentionFactory(assignment=a, key=entity_key("nodule"), start=0, end=6)
    rul = MentionFactory(assignment=a, key=entity_key("right upper lobe"), start=10, end=13)
    a.relations.create(
        report=a.report, source_key=nodule.key, target_key=rul.key, source_mention=nodule, target_mention=rul
    )
    assert codes(a, before_submit=True) == []


def test_pair_whose_lesion_mention_is_negated():
    a = make("No nodule in RUL.")
    nodule = MentionFactory(assignment=a, key=entity_key("nodule"), start=3, end=9, negated=True)
    a.relations.create(
        report=a.report,
        source_key=nodule.key,
        target_key=entity_key("right upper lobe"),
        source_mention=nodule,
    )
    assert codes(a) == ["negated_pair_source", "present_key_only_negated"]


def test_key_level_pair_on_a_key_whose_mentions_are_all_negated():
    a = make("No nodule. Nodule? no.")
    MentionFactory(assignment=a, key=entity_key("nodule"), start=3, end=9, negated=True)
    a.relations.create(report=a.report, source_key=entity_key("nodule"), target_key=entity_key("left lung"))
    assert codes(a) == ["present_key_only_negated"]


def test_location_pair_on_pleural_effusion_is_flagged():
    a = make("Right pleural effusion.")
    effusion = MentionFactory(assignment=a, key=entity_key("pleural effusion"), start=6, end=22)
    a.relations.create(
        report=a.report, source_key=effusion.key, target_key=entity_key("pleura"), source_mention=effusion
    )
    issues = assignment_issues(assignment=a)
    assert [i.code for i in issues] == ["implicit_pair"]
    assert "implicit" in issues[0].message


def test_no_findings_flag_with_a_present_finding():
    a = make("Nodule. No effusion.", no_findings=True)
    MentionFactory(assignment=a, key=entity_key("nodule"), start=0, end=6)
    MentionFactory(assignment=a, key=entity_key("pleural effusion"), start=11, end=19, negated=True)
    assert codes(a) == ["no_findings_with_mentions"]


def test_no_findings_flag_with_only_negated_mentions_is_fine():
    a = make("No pleural effusion.", no_findings=True)
    MentionFactory(assignment=a, key=entity_key("pleural effusion"), start=3, end=19, negated=True)
    assert codes(a, before_submit=True) == []


def test_mention_marked_present_in_a_negated_context_is_a_hint():
    a = make("No pleural effusion. 결절 없음.")
    MentionFactory(assignment=a, key=entity_key("pleural effusion"), start=3, end=19)
    MentionFactory(assignment=a, key=entity_key("nodule"), start=21, end=23)
    assert codes(a) == ["reads_negated", "reads_negated"]


def test_before_submit_a_report_without_findings_should_be_flagged():
    a = make("Normal chest CT.")
    assert codes(a) == []
    assert codes(a, before_submit=True) == ["findings_missing"]


def test_a_negation_trigger_an_admin_adds_takes_effect_in_the_checks():
    a = make("Zilch nodule.")
    MentionFactory(assignment=a, key=entity_key("nodule"), start=6, end=12)
    assert codes(a) == []
    trigger_create(phrase="zilch", category=NEG, direction=FWD)
    assert codes(a) == ["reads_negated"]
