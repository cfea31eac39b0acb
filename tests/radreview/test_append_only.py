"""Issue 16: promotions, review decisions and model versions that predicted are never
changed or deleted, by anyone: not through the Django admin (superusers included),
not below it (the models refuse), and the admin role holds no permission to."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db.models import ProtectedError
from django.urls import reverse

from inference.models import ModelPromotion, ModelVersion, Stage1Prediction
from inference.services.stage1 import model_promote
from radreview import roles
from radreview.records import AppendOnlyError
from review.models import ReviewDecision
from review.services import finding_decide, sync_report_findings
from tests.inference.factories import ModelVersionFactory, Stage1PredictionFactory
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def promotion(admin_user) -> ModelPromotion:
    return model_promote(version=ModelVersionFactory.create(), user=admin_user, reason="first model")


@pytest.fixture
def decision(clinician) -> ReviewDecision:
    review = sync_report_findings(chest_report_with_predictions())
    nodule = review.findings.get(key="nodule", superseded=False)
    finding_decide(finding_id=nodule.pk, user=clinician, action="approve", version=nodule.version)
    return ReviewDecision.objects.get()


def _admin_url(obj, view: str) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


# -- below the admin: the models refuse -----------------------------------------------------


@pytest.mark.parametrize("record", ["promotion", "decision"])
def test_an_audit_row_cannot_be_changed_or_deleted_by_any_code_path(record, request):
    row = request.getfixturevalue(record)
    model = type(row)
    row.reason = row.comment = "rewritten"
    with pytest.raises(AppendOnlyError, match="append-only"):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).update(created_at=row.created_at)
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        model.objects.bulk_update([row], ["created_at"])
    assert model.objects.filter(pk=row.pk).exists()


def test_audit_rows_are_still_written(promotion, decision):
    assert (ModelPromotion.objects.count(), ReviewDecision.objects.count()) == (1, 1)
    assert (promotion.action, decision.action) == ("promote", "approve")


def test_a_model_version_that_predicted_cannot_be_deleted_with_its_predictions():
    prediction = Stage1PredictionFactory()
    version = prediction.model_version
    with pytest.raises(ProtectedError):
        version.delete()
    with pytest.raises(ProtectedError):
        ModelVersion.objects.filter(pk=version.pk).delete()
    assert Stage1Prediction.objects.filter(model_version=version).count() == 1


# -- the Django admin: read-only for everyone ----------------------------------------------


@pytest.mark.parametrize("record", ["promotion", "decision"])
def test_superuser_cannot_delete_or_change_an_audit_row_in_the_admin(record, request, client, superuser):
    row = request.getfixturevalue(record)
    client.force_login(superuser)

    assert client.get(_admin_url(row, "delete")).status_code == 403
    assert client.post(_admin_url(row, "delete"), {"post": "yes"}).status_code == 403
    page = client.get(_admin_url(row, "change"))  # the view page, read-only
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(_admin_url(row, "change"), {"reason": "x", "comment": "x"}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


def test_superuser_cannot_delete_the_active_model_version_or_its_predictions_in_the_admin(
    client, superuser, admin_user
):
    prediction = Stage1PredictionFactory()
    version = prediction.model_version
    model_promote(version=version, user=admin_user, reason="active")
    client.force_login(superuser)

    assert client.get(_admin_url(version, "delete")).status_code == 403
    assert client.post(_admin_url(version, "delete"), {"post": "yes"}).status_code == 403
    assert client.post(_admin_url(prediction, "delete"), {"post": "yes"}).status_code == 403
    changelist = client.post(
        reverse("admin:inference_modelversion_changelist"),
        {"action": "delete_selected", "_selected_action": [version.pk], "post": "yes"},
    )
    assert changelist.status_code in (200, 302)  # the action does not exist: nothing deleted
    assert b"delete_selected" not in client.get(reverse("admin:inference_modelversion_changelist")).content
    assert client.post(_admin_url(version, "change"), {"status": "retired"}).status_code == 403
    version.refresh_from_db()
    assert (version.status, version.is_active, version.predictions.count()) == ("ready", True, 1)


def test_report_text_and_hash_are_read_only_in_the_admin(client, superuser):
    report = chest_report_with_predictions()
    client.force_login(superuser)
    page = client.get(_admin_url(report, "change")).content.decode()
    assert 'name="text"' not in page and 'name="content_hash"' not in page

    client.post(
        _admin_url(report, "change"),
        {
            "source": report.source,
            "external_id": report.external_id,
            "patient_id": "P-new",
            "modality": report.modality_id,
            "title": "",
            "text": "Rewritten.",
            "content_hash": "0" * 64,
        },
    )

    report.refresh_from_db()
    assert (report.patient_id, report.text.startswith("Small nodule")) == ("P-new", True)


def test_the_admin_role_holds_no_change_or_delete_permission_on_append_only_records():
    granted = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=roles.ADMIN).permissions.all()
    }
    assert granted.isdisjoint(roles.APPEND_ONLY_PERMISSIONS)
    assert {"inference.view_modelpromotion", "review.view_reviewdecision"} <= granted
    assert not {"review.change_reviewdecision", "review.delete_reviewdecision"} & granted
