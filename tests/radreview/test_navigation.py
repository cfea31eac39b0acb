"""The navigation bar (radreview.navigation): each role sees the sections it may open,
every link answers 200 for that role, and the page's own section is marked."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from radreview.navigation import nav_items

ADMIN_ONLY = {"Import reports", "Import labels", "Models", "Stage 2", "Jobs", "Rules", "Users"}


def _bar(client: Client, url: str) -> list[tuple[str, str, bool]]:
    """(label, href, current) of each link in the page's navigation bar."""
    html = client.get(url).content.decode()
    nav = re.search(r'<nav class="mainnav"[^>]*>(.*?)<span class="topnav">', html, re.S)
    assert nav, "the page has no navigation bar"
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav[1])
    return [(label, href, bool(current)) for href, current, label in links]


def test_an_annotator_sees_the_annotation_queue_and_no_admin_section(client, annotator):
    client.force_login(annotator)
    labels = [label for label, _, _ in _bar(client, "/")]
    assert labels == ["Annotate"]


def test_a_clinician_sees_review_and_the_evaluation_pages(client, clinician):
    client.force_login(clinician)
    labels = {label for label, _, _ in _bar(client, "/")}
    assert labels == {"Review", "Evaluation", "Longitudinal"}
    assert not labels & ADMIN_ONLY


def test_an_admin_sees_every_admin_section_but_not_annotate_or_review(client, admin_user):
    client.force_login(admin_user)
    labels = [label for label, _, _ in _bar(client, "/")]
    assert set(labels) >= ADMIN_ONLY
    assert "Annotate" not in labels and "Review" not in labels


@pytest.mark.parametrize("who", ["annotator", "clinician", "admin_user"])
def test_every_link_of_the_bar_answers_200_for_its_role(client, who, request, chest_ct, brain_mri):
    client.force_login(request.getfixturevalue(who))
    links = _bar(client, "/")
    assert links
    for label, href, _ in links:
        response = client.get(href)
        assert response.status_code == 200, (label, href, response.status_code)


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("/models/", "Models"),
        ("/models/3/", "Models"),
        ("/models/stage2/", "Stage 2"),
        ("/models/llm/", "Stage 2"),
        ("/analytics/", "Evaluation"),
        ("/analytics/longitudinal/", "Longitudinal"),
        ("/annotations/import-labels/", "Import labels"),
        ("/annotations/import/7/", "Import reports"),
        ("/jobs/12/", "Jobs"),
    ],
)
def test_the_section_of_the_page_is_the_current_one(admin_user, path, section):
    current = [item.label for item in nav_items(admin_user, path) if item.current]
    assert current == [section]


def test_the_bar_marks_the_current_section_with_aria_current(client, admin_user):
    client.force_login(admin_user)
    current = [label for label, _, is_current in _bar(client, "/jobs/") if is_current]
    assert current == ["Jobs"]


def test_the_workspace_page_belongs_to_annotate(annotator):
    current = [item.label for item in nav_items(annotator, "/annotations/assignments/5/") if item.current]
    assert current == ["Annotate"]


def test_a_user_without_staff_status_gets_no_django_admin_link(admin_user):
    admin_user.is_staff = False
    labels = [item.label for item in nav_items(admin_user, "/")]
    assert "Users" not in labels and "Jobs" in labels
