"""The report browser: admins only, the text escaped with its gold highlights, filters."""

import re

from django.urls import reverse

from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key


def test_report_pages_are_for_admins_only(client, annotator, clinician, admin_user):
    report = ReportFactory()
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(reverse("annotations:report_list")).status_code == 403
        assert client.get(reverse("annotations:report_detail", args=[report.pk])).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("annotations:report_list")).status_code == 200


def test_report_text_is_rendered_escaped_with_gold_highlights(client, admin_user):
    text = "<script>alert(1)</script> 우상엽 nodule <b>bold</b>"
    report = ReportFactory(text=text)
    assignment = AssignmentFactory(report=report, kind="imported", status="submitted")
    start = text.index("nodule")
    MentionFactory(assignment=assignment, key=entity_key("nodule"), start=start, end=start + 6)
    client.force_login(admin_user)
    page = client.get(reverse("annotations:report_detail", args=[report.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert f'data-start="{start}" data-end="{start + 6}">nodule</span>' in page


def test_report_list_filters_and_uses_constant_queries(client, admin_user, django_assert_max_num_queries):
    ReportFactory.create_batch(30, source="site-a")
    ReportFactory.create_batch(5, source="site-b")
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        page = client.get(reverse("annotations:report_list"), {"source": "site-b"}).content.decode()
    assert len(re.findall(r'href="/annotations/reports/\d+/', page)) == 5
