"""Assigning reports to annotators and the order of their queues."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations import selectors
from annotations.models import Assignment
from annotations.services import queue_order
from annotations.services.assignments import assignment_report_ids, assignments_create
from annotations.services.queue_order import queue_ranks, queue_reorder, register_uncertainty_provider
from inference.selectors import model_names_active
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.inference.factories import ModelVersionFactory
from tests.radreview.factories import UserFactory


@pytest.fixture
def dated(chest_ct):
    days = [datetime(2020, 1, d, tzinfo=UTC) for d in (5, 1, 9)]
    return [ReportFactory(external_id=f"d{i}", study_datetime=day) for i, day in enumerate(days)]


@pytest.fixture
def provider():
    """Register a test scorer; the one installed at start-up (stage 1's) comes back after."""
    installed, names = queue_order._provider, queue_order._active_models
    yield register_uncertainty_provider
    register_uncertainty_provider(installed, active_models=names)


def test_random_order_is_reproducible_with_a_seed(dated):
    ids = [r.pk for r in dated]
    assert queue_ranks(report_ids=ids, order="random", seed=3) == queue_ranks(
        report_ids=ids, order="random", seed=3
    )


def test_date_orders(dated):
    ids = [r.pk for r in dated]
    newest = queue_ranks(report_ids=ids, order="newest")
    oldest = queue_ranks(report_ids=ids, order="oldest")
    assert sorted(ids, key=newest.get) == [dated[2].pk, dated[0].pk, dated[1].pk]
    assert sorted(ids, key=oldest.get) == [dated[1].pk, dated[0].pk, dated[2].pk]


def test_uncertainty_order_without_a_stage1_model_is_refused(dated):
    with pytest.raises(ValidationError, match="needs an active stage-1 model"):
        queue_ranks(report_ids=[r.pk for r in dated], order="uncertainty")


def test_uncertainty_order_puts_the_most_uncertain_first_and_unscored_last(dated, provider):
    a, b, c = dated
    provider(lambda ids: {a.pk: 0.2, b.pk: 0.9})
    ranks = queue_ranks(report_ids=[a.pk, b.pk, c.pk], order="uncertainty")
    assert sorted(ranks, key=ranks.get) == [b.pk, a.pk, c.pk]


def test_assign_a_sample_to_two_annotators_for_double_annotation(dated, annotator, admin_user):
    second = UserFactory(username="ann-2")
    second.groups.add(*annotator.groups.all())
    ids = assignment_report_ids(modality=dated[0].modality, how="sample", n=2, seed=1)
    result = assignments_create(
        report_ids=ids, annotators=[annotator, second], assigned_by=admin_user, order="oldest"
    )
    assert (result.reports, result.created, result.skipped) == (2, 4, 0)
    again = assignments_create(report_ids=ids, annotators=[annotator], assigned_by=admin_user)
    assert (again.created, again.skipped) == (0, 2)
    # Only unassigned reports are sampled next time.
    assert assignment_report_ids(modality=dated[0].modality, how="sample", n=5) == sorted(
        {r.pk for r in dated} - set(ids)
    )


def test_assign_batch_names_unknown_ids(dated, annotator, admin_user):
    with pytest.raises(ValidationError, match="nope"):
        assignment_report_ids(modality=dated[0].modality, how="batch", external_ids=["d0", "nope"])


def test_assign_by_search_and_refuse_non_annotators(dated, clinician, admin_user):
    ReportFactory(text="Large mass in LUL.", external_id="mass-1")
    ids = assignment_report_ids(modality=dated[0].modality, how="search", query="MASS in")
    assert len(ids) == 1
    with pytest.raises(ValidationError, match="not an active annotator"):
        assignments_create(report_ids=ids, annotators=[clinician], assigned_by=admin_user)


def test_reorder_changes_the_queue_order(dated, annotator):
    for report in dated:
        AssignmentFactory(report=report, annotator=annotator)
    queue_reorder(order="newest", annotator_id=annotator.pk)
    assert [a.report.external_id for a in selectors.assignment_queue(user=annotator)] == ["d2", "d0", "d1"]
    queue_reorder(order="oldest")
    assert [a.report.external_id for a in selectors.assignment_queue(user=annotator)] == ["d1", "d0", "d2"]


def test_in_progress_work_comes_before_new_work_in_the_queue(dated, annotator):
    first = AssignmentFactory(report=dated[0], annotator=annotator, rank=1)
    second = AssignmentFactory(report=dated[1], annotator=annotator, rank=2, status="in_progress")
    assert selectors.assignment_next(user=annotator) == second
    assert selectors.assignment_next(user=annotator, after=second) == first


def test_assign_page_is_for_admins_and_assigns(client, dated, annotator, clinician, admin_user):
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(reverse("annotations:assign")).status_code == 403
    client.force_login(admin_user)
    data = {
        "modality": "chest_ct",
        "how": "batch",
        "external_ids": "d0, d2",
        "annotator": annotator.pk,
        "order": "random",
        "only_unassigned": "on",
    }
    response = client.post(reverse("annotations:assign"), data)
    assert response.status_code == 302
    assert sorted(Assignment.objects.values_list("report__external_id", flat=True)) == ["d0", "d2"]


def test_assign_page_shows_the_uncertainty_refusal_as_a_form_error(client, dated, annotator, admin_user):
    client.force_login(admin_user)
    data = {
        "modality": "chest_ct",
        "how": "sample",
        "n": 2,
        "annotator": annotator.pk,
        "order": "uncertainty",
        "only_unassigned": "on",
    }
    page = client.post(reverse("annotations:assign"), data).content.decode()
    assert "needs an active stage-1 model" in page
    assert not Assignment.objects.exists()


def test_assign_page_explains_that_no_stage1_model_is_connected(client, admin_user, chest_ct, provider):
    provider(None)
    client.force_login(admin_user)
    page = client.get(reverse("annotations:assign")).content.decode()
    assert "no stage-1 model is connected to the queue" in page
    assert "Most uncertain first (active learning): no active stage-1 model" in page  # the choice says so


def test_assign_page_names_the_modalities_without_an_active_model(client, admin_user, chest_ct, provider):
    provider(lambda ids: {})
    client.force_login(admin_user)
    page = client.get(reverse("annotations:assign")).content.decode()
    assert "no modality has an active stage-1 model" in page
    assert 'Chest CT: <span class="status">no active model</span>' in page


def test_reorder_with_nothing_open_is_not_an_uncertainty_error(dated):
    assert queue_reorder(order="uncertainty").updated == 0


def test_take_back_removes_only_unstarted_work_of_that_annotator_and_modality(
    client, dated, annotator, admin_user, brain_mri
):
    _todo, started, done = (AssignmentFactory(report=r, annotator=annotator) for r in dated)
    MentionFactory(assignment=started, key=entity_key("nodule"), start=0, end=1)
    Assignment.objects.filter(pk=done.pk).update(status=Assignment.Status.SUBMITTED)
    other_modality = AssignmentFactory(report=ReportFactory(modality=brain_mri), annotator=annotator)
    client.force_login(annotator)
    assert client.post(reverse("annotations:take_back"), {"annotator": annotator.pk}).status_code == 403
    client.force_login(admin_user)
    response = client.post(
        reverse("annotations:take_back"), {"annotator": annotator.pk, "modality": "chest_ct"}
    )
    assert response.status_code == 302
    assert set(Assignment.objects.values_list("pk", flat=True)) == {started.pk, done.pk, other_modality.pk}
    api = client.post(
        "/api/assignments/take-back/", {"annotator": annotator.pk}, content_type="application/json"
    )
    assert api.json() == {"taken": 1}
    assert client.post(reverse("annotations:take_back"), {"annotator": "x"}).status_code == 404


def test_an_active_model_without_predictions_is_named_in_the_refusal_and_on_the_page(
    client, dated, admin_user, provider
):
    # stage 1's provider answers {} for reports it has not scored; it names the active models
    provider(lambda ids: {}, active_models=model_names_active)
    ModelVersionFactory(name="ct-v1", is_active=True)
    with pytest.raises(ValidationError, match="no stored predictions for these reports"):
        queue_ranks(report_ids=[r.pk for r in dated], order="uncertainty")
    client.force_login(admin_user)
    page = client.get(reverse("annotations:assign")).content.decode()
    assert "active model ct-v1" in page and "least sure about come first" in page
