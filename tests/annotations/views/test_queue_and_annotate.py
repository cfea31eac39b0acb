"""The queue and annotation workspace screens: permissions per role, htmx
fragments, escaping, CSRF, and bounded queries."""

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Assignment, Mention
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}
TEXT = "<b>Small</b> nodule in the 우상엽.\r\nNo pleural effusion."


@pytest.fixture
def mine(annotator):
    return AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator)


def url(name, *args):
    return reverse(f"annotations:{name}", args=args)


def test_queue_lists_only_my_assignments_with_status(client, annotator):
    mine = AssignmentFactory(annotator=annotator, report=ReportFactory(external_id="mine-1"))
    AssignmentFactory(report=ReportFactory(external_id="theirs-1"))
    client.force_login(annotator)
    page = client.get(url("queue")).content.decode()
    assert "mine-1" in page and "theirs-1" not in page
    assert url("annotate", mine.pk) in page
    assert "To do: 1" in page


def test_queue_filter_answers_htmx_with_the_table_only(client, annotator):
    AssignmentFactory(annotator=annotator, status="submitted", report=ReportFactory(external_id="done-1"))
    AssignmentFactory(annotator=annotator, report=ReportFactory(external_id="todo-1"))
    client.force_login(annotator)
    fragment = client.get(url("queue"), {"status": "todo"}, **HTMX).content.decode()
    assert fragment.startswith('\n<div id="queue-table">') or fragment.lstrip().startswith(
        '<div id="queue-table">'
    )
    assert "todo-1" in fragment and "done-1" not in fragment


def test_clinicians_and_admins_have_no_queue(client, clinician, admin_user):
    for user in (clinician, admin_user):
        client.force_login(user)
        assert client.get(url("queue")).status_code == 403


def test_annotation_page_renders_report_text_escaped_and_suggestions(client, annotator, mine):
    client.force_login(annotator)
    page = client.get(url("annotate", mine.pk)).content.decode()
    assert "<b>Small</b>" not in page
    assert "&lt;b&gt;Small&lt;/b&gt;" in page
    assert "&#13;" in page  # a raw CR would be folded into the LF by the HTML parser
    assert 'class="seg sugg"' in page  # "nodule", "우상엽", "pleural effusion" are entity values
    assert 'id="ws-data"' in page


def test_annotation_page_query_count_does_not_grow_with_mentions(
    client, annotator, mine, django_assert_max_num_queries
):
    for start in range(0, 30, 3):
        MentionFactory(assignment=mine, key=entity_key("nodule"), start=start, end=start + 2)
    client.force_login(annotator)
    # 15: one of them reads the queue position ("3 of 21", previous / next).
    with django_assert_max_num_queries(15):
        assert client.get(url("annotate", mine.pk)).status_code == 200


def test_someone_elses_assignment_is_forbidden_to_annotators_and_clinicians(client, mine, clinician):
    other = UserFactory(username="ann-other")
    other.groups.add(*mine.annotator.groups.all())
    for user in (other, clinician):
        client.force_login(user)
        assert client.get(url("annotate", mine.pk)).status_code == 403
        response = client.post(
            url("mention_create", mine.pk), {"key": entity_key("nodule").pk, "start": 13, "end": 19}
        )
        assert response.status_code == 403
    assert not Mention.objects.exists()


def test_admin_sees_any_version_read_only_but_cannot_edit_it(client, admin_user, mine):
    client.force_login(admin_user)
    page = client.get(url("annotate", mine.pk)).content.decode()
    assert "'s version" in page and 'id="key-panel"' not in page
    assert (
        client.post(
            url("mention_create", mine.pk), {"key": entity_key("nodule").pk, "start": 13, "end": 19}
        ).status_code
        == 403
    )


def test_mention_create_over_htmx_answers_the_workspace_with_the_mention_focused(client, annotator, mine):
    client.force_login(annotator)
    start = TEXT.index("nodule")
    data = {"key": entity_key("nodule").pk, "start": start, "end": start + 6, "text": "nodule"}
    response = client.post(url("mention_create", mine.pk), data, **HTMX)
    body = response.content.decode()
    mention = Mention.objects.get()
    assert body.lstrip().startswith('<div id="workspace"')
    assert f'data-focus="{mention.pk}"' in body
    assert f'data-m="{mention.pk}"' in body


def test_invalid_offsets_show_an_error_in_the_workspace(client, annotator, mine):
    client.force_login(annotator)
    response = client.post(
        url("mention_create", mine.pk), {"key": entity_key("nodule").pk, "start": 5, "end": 500}, **HTMX
    )
    assert response.status_code == 200
    assert 'id="ws-error"' in response.content.decode()
    assert not Mention.objects.exists()


def test_posts_without_csrf_token_are_refused(annotator, mine):
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = client.post(
        url("mention_create", mine.pk), {"key": entity_key("nodule").pk, "start": 13, "end": 19}
    )
    assert response.status_code == 403
    assert not Mention.objects.exists()


def test_flag_toggle_delete_and_no_findings_over_htmx(client, annotator, mine):
    client.force_login(annotator)
    start = TEXT.index("pleural effusion")
    mention = MentionFactory(assignment=mine, key=entity_key("pleural effusion"), start=start, end=start + 16)
    client.post(url("mention_update", mine.pk, mention.pk), {"field": "negated"}, **HTMX)
    mention.refresh_from_db()
    assert mention.negated
    client.post(url("no_findings", mine.pk), {"no_findings": "on"}, **HTMX)
    mine.refresh_from_db()
    assert mine.no_findings
    client.post(url("mention_delete", mine.pk, mention.pk), **HTMX)
    assert not Mention.objects.exists()


def test_submit_shows_issues_first_then_submits_when_forced(client, annotator, mine):
    client.force_login(annotator)
    body = client.post(url("submit", mine.pk), **HTMX).content.decode()
    assert "Submit anyway" in body and "findings_missing" in body
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.TODO
    body = client.post(url("submit", mine.pk), {"force": "1"}, **HTMX).content.decode()
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.SUBMITTED
    assert "Reopen" in body


def test_accept_all_suggestions_creates_their_mentions(client, annotator, mine):
    client.force_login(annotator)
    client.post(url("suggestions_accept", mine.pk), **HTMX)
    got = sorted((m.key.name, TEXT[m.start : m.end]) for m in Mention.objects.select_related("key"))
    assert got == [
        ("nodule", "nodule"),
        ("pleural effusion", "pleural effusion"),
        ("right upper lobe", "우상엽"),
    ]


def test_pair_form_creates_a_relation(client, annotator, mine):
    client.force_login(annotator)
    n = TEXT.index("nodule")
    r = TEXT.index("우상엽")
    nodule = MentionFactory(assignment=mine, key=entity_key("nodule"), start=n, end=n + 6)
    rul = MentionFactory(assignment=mine, key=entity_key("right upper lobe"), start=r, end=r + 3)
    page = client.get(url("annotate", mine.pk)).content.decode()
    assert f'value="m{rul.pk}"' in page
    client.post(url("relation_create", mine.pk), {"source": nodule.pk, "target": f"m{rul.pk}"}, **HTMX)
    assert mine.relations.get().target_mention == rul


def test_home_links_each_role_to_its_workspace_screens(client, annotator, clinician, admin_user):
    client.force_login(annotator)
    page = client.get("/").content.decode()
    assert url("queue") in page and url("assign") not in page
    client.force_login(clinician)
    assert url("queue") not in client.get("/").content.decode()
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    for name in ("assign", "agreement", "values", "weak_labels"):
        assert url(name) in page
    assert url("queue") not in page


def test_moving_a_mention_over_htmx_keeps_it_focused_and_bad_text_is_an_error(client, annotator, mine):
    client.force_login(annotator)
    start = TEXT.index("nodule")
    mention = MentionFactory(assignment=mine, key=entity_key("nodule"), start=start, end=start + 4)
    data = {"field": "span", "start": start, "end": start + 6, "text": "nodule"}
    response = client.post(url("mention_update", mine.pk, mention.pk), data, **HTMX)
    assert f'data-focus="{mention.pk}"' in response.content.decode()
    mention.refresh_from_db()
    assert (mention.start, mention.end) == (start, start + 6)
    wrong = client.post(url("mention_update", mine.pk, mention.pk), {**data, "text": "nodulX"}, **HTMX)
    assert 'id="ws-error"' in wrong.content.decode() and "does not match" in wrong.content.decode()


def test_workspace_screens_link_to_each_other_by_permission(client, annotator, admin_user, mine):
    client.force_login(annotator)
    nav = client.get(url("queue")).content.decode()
    assert url("queue") in nav and url("assign") not in nav and url("agreement") not in nav
    client.force_login(admin_user)
    nav = client.get(url("assign")).content.decode()
    for name in ("assign", "values", "agreement", "weak_labels"):
        assert url(name) in nav
