"""Issue 16: a report's text never changes after import. A corrected report is a new
revision that keeps the old one, whose mentions stay as they were, visibly
superseded and no longer gold; new work goes to the new revision."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotations.models import Assignment, Mention, Report
from annotations.selectors import assignment_next, assignment_queue, gold_assignment_ids
from annotations.services.annotation import mention_create
from annotations.services.revisions import report_revise
from radreview.records import AppendOnlyError
from review.models import ReviewReport
from tests.annotations.factories import (
    AssignmentFactory,
    MentionFactory,
    ReportFactory,
    entity_key,
    imported_gold,
)

pytestmark = pytest.mark.django_db

CORRECTED = "Small nodule in the RLL. No pleural effusion."


# -- the text is fixed: the model refuses ---------------------------------------------------


def test_saving_a_changed_text_or_hash_of_a_stored_report_is_refused():
    report = ReportFactory()
    report.text = "Rewritten."
    with pytest.raises(AppendOnlyError, match="cannot be changed"):
        report.save()
    report.refresh_from_db()
    report.content_hash = "0" * 64
    with pytest.raises(AppendOnlyError):
        report.save(update_fields=["content_hash"])
    report.refresh_from_db()
    assert report.text == "Small nodule in the RUL. No pleural effusion."


def test_queryset_update_and_bulk_update_of_the_text_are_refused():
    report = ReportFactory()
    with pytest.raises(AppendOnlyError):
        Report.objects.filter(pk=report.pk).update(text="Rewritten.")
    report.text = "Rewritten."
    with pytest.raises(AppendOnlyError):
        Report.objects.bulk_update([report], ["text", "title"])
    assert Report.objects.get(pk=report.pk).text.startswith("Small nodule")


def test_other_fields_of_a_report_still_change():
    report = ReportFactory()
    report.title = "CT chest"
    report.save()
    Report.objects.filter(pk=report.pk).update(patient_id="P9")
    report.refresh_from_db()
    assert (report.title, report.patient_id) == ("CT chest", "P9")


# -- report_revise ---------------------------------------------------------------------------


def test_revise_creates_a_new_revision_and_supersedes_the_old_one_keeping_its_mentions(admin_user):
    old = ReportFactory(external_id="x1", title="CT chest")
    mention = MentionFactory(assignment=AssignmentFactory(report=old))

    new = report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="RUL was RLL")

    old.refresh_from_db()
    assert (new.text, new.content_hash) == (CORRECTED, hashlib.sha256(CORRECTED.encode()).hexdigest())
    assert (new.source, new.external_id, new.title, new.patient_id) == (
        old.source,
        "x1",
        "CT chest",
        old.patient_id,
    )
    assert (new.revision_of, new.revised_by, new.revision_reason) == (old, admin_user, "RUL was RLL")
    assert (new.superseded_at, old.superseded_at is not None) == (None, True)
    assert old.text == "Small nodule in the RUL. No pleural effusion."  # unchanged, with its mention
    assert Mention.objects.get(pk=mention.pk).report == old
    assert list(Report.objects.current().filter(external_id="x1")) == [new]


def test_revise_assigns_the_new_revision_to_the_old_ones_annotators(admin_user, annotator):
    old = ReportFactory()
    AssignmentFactory(report=old, annotator=annotator, rank=0.25)
    imported_gold(old)  # imported gold is not work to redo

    new = report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="typo")

    carried = Assignment.objects.get(report=new)
    assert (carried.annotator, carried.kind, carried.status, carried.rank) == (
        annotator,
        "annotation",
        "todo",
        0.25,
    )


def test_revise_needs_a_reason_a_changed_text_and_the_latest_revision(admin_user):
    old = ReportFactory()
    with pytest.raises(ValidationError, match="reason is required"):
        report_revise(report=old, new_text=CORRECTED, user=admin_user, reason=" ")
    with pytest.raises(ValidationError, match="unchanged"):
        report_revise(report=old, new_text=old.text, user=admin_user, reason="x")
    with pytest.raises(ValidationError, match="empty"):
        report_revise(report=old, new_text="  ", user=admin_user, reason="x")
    report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="x")
    with pytest.raises(ValidationError, match="already corrected"):
        report_revise(report=old, new_text="Third.", user=admin_user, reason="x")
    assert Report.objects.count() == 2


def test_only_one_current_revision_per_external_id():
    ReportFactory(source="s", external_id="x1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ReportFactory(source="s", external_id="x1")


# -- the old revision's mentions are invalidated ---------------------------------------------


def test_a_superseded_report_has_no_gold_and_its_new_revision_none_yet(admin_user):
    old = ReportFactory()
    imported_gold(old)
    assert list(gold_assignment_ids(report_ids=[old.pk])) == [old.pk]

    new = report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="x")

    assert gold_assignment_ids(report_ids=[old.pk, new.pk]) == {}


def test_the_old_revision_is_read_only_for_its_annotator(admin_user, annotator):
    old = ReportFactory()
    assignment = AssignmentFactory(report=old, annotator=annotator)
    report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="x")
    assignment = Assignment.objects.select_related("report").get(pk=assignment.pk)

    with pytest.raises(ValidationError, match="corrected"):
        mention_create(assignment=assignment, user=annotator, key_id=entity_key("nodule").pk, start=6, end=12)
    assert not Mention.objects.exists()


def test_the_queue_moves_open_work_to_the_new_revision_and_keeps_submitted_work(admin_user, annotator):
    todo = AssignmentFactory(report=ReportFactory(), annotator=annotator)
    done = AssignmentFactory(report=ReportFactory(), annotator=annotator, status=Assignment.Status.SUBMITTED)
    new = report_revise(report=todo.report, new_text=CORRECTED, user=admin_user, reason="x")
    report_revise(report=done.report, new_text=CORRECTED, user=admin_user, reason="x")

    queue = list(assignment_queue(user=annotator))

    carried = Assignment.objects.get(report=new)
    assert todo not in queue and {carried, done} <= set(queue)
    assert assignment_next(user=annotator) in Assignment.objects.filter(report__superseded_at__isnull=True)


def test_a_superseded_reports_open_review_leaves_the_queue(admin_user):
    report = ReportFactory(text="Small nodule in the RUL.")
    review = ReviewReport.objects.create(report=report, status=ReviewReport.Status.PENDING)
    report_revise(report=report, new_text="Small nodule in the RLL.", user=admin_user, reason="side")
    review.refresh_from_db()
    assert review.status == ReviewReport.Status.SUPERSEDED
