"""Issue 16: correcting a report from its page (admins), and the banners that mark
a superseded report on every page that shows its text."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Report
from annotations.services.revisions import report_revise
from review.models import ReviewDecision
from review.services import sync_report_findings
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.django_db

CORRECTED = "Small nodule in the RLL. No pleural effusion."


def test_admin_corrects_a_report_from_its_page_with_csrf(admin_user):
    old = ReportFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("annotations:report_revise", args=[old.pk])
    assert client.post(url, {"text": CORRECTED, "reason": "RLL"}).status_code == 403  # no CSRF token

    page = client.get(reverse("annotations:report_detail", args=[old.pk]))
    assert 'id="revise-form"' in page.content.decode()
    response = client.post(
        url, {"text": CORRECTED, "reason": "RLL", "csrfmiddlewaretoken": page.context["csrf_token"]}
    )

    new = Report.objects.get(revision_of=old)
    assert response.status_code == 302 and response["Location"] == reverse(
        "annotations:report_detail", args=[new.pk]
    )
    assert new.text == CORRECTED
    old_page = client.get(reverse("annotations:report_detail", args=[old.pk])).content.decode()
    assert (
        f'Superseded by <a href="{reverse("annotations:report_detail", args=[new.pk])}">report #{new.pk}</a>'
        in old_page
    )
    assert 'id="revise-form"' not in old_page  # only the latest revision is corrected
    new_page = client.get(reverse("annotations:report_detail", args=[new.pk])).content.decode()
    assert "Corrected revision of" in new_page and "RLL" in new_page


def test_a_revision_without_a_reason_is_refused_on_the_page(client, admin_user):
    old = ReportFactory()
    client.force_login(admin_user)
    response = client.post(
        reverse("annotations:report_revise", args=[old.pk]), {"text": CORRECTED, "reason": ""}
    )
    assert response.status_code == 400
    assert not Report.objects.filter(revision_of=old).exists()


@pytest.mark.parametrize("fixture", ["annotator", "clinician"])
def test_only_admins_correct_reports(client, request, fixture):
    old = ReportFactory()
    client.force_login(request.getfixturevalue(fixture))
    response = client.post(
        reverse("annotations:report_revise", args=[old.pk]), {"text": CORRECTED, "reason": "x"}
    )
    assert response.status_code == 403
    assert Report.objects.count() == 1


def test_the_workspace_of_a_superseded_report_shows_the_banner_and_is_read_only(
    client, annotator, admin_user
):
    old = ReportFactory()
    assignment = AssignmentFactory(report=old, annotator=annotator)
    MentionFactory(assignment=assignment)
    new = report_revise(report=old, new_text=CORRECTED, user=admin_user, reason="x")
    client.force_login(annotator)

    page = client.get(reverse("annotations:annotate", args=[assignment.pk])).content.decode()

    assert f"Superseded by report #{new.pk}" in page and 'id="superseded-banner"' in page
    assert 'data-editable="0"' in page
    response = client.post(
        reverse("annotations:mention_create", args=[assignment.pk]),
        {"key": "1", "start": "0", "end": "5"},
        HTTP_HX_REQUEST="true",
    )
    assert "was corrected" in response.content.decode()
    assert old.mentions.count() == 1


def test_the_review_page_of_a_superseded_report_shows_the_banner_and_refuses_decisions(
    client, clinician, admin_user
):
    review = sync_report_findings(chest_report_with_predictions())
    old = review.report
    new = report_revise(report=old, new_text="Corrected.", user=admin_user, reason="x")
    nodule = review.findings.get(key="nodule", superseded=False)
    client.force_login(clinician)

    page = client.get(reverse("review:review", args=[old.pk])).content.decode()
    assert f"Superseded by report #{new.pk}" in page and 'data-editable="0"' in page
    response = client.post(
        reverse("review:decide", args=[old.pk, nodule.pk]),
        {"action": "approve", "version": nodule.version},
        HTTP_HX_REQUEST="true",
    )

    assert "new revision replaces it" in response.content.decode()
    assert not ReviewDecision.objects.exists()
