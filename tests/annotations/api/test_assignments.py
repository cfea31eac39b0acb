"""The REST API of the annotation workspace: the same services and role checks as the screens."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from annotations.models import Assignment, Mention, Relation
from tests.annotations.factories import AssignmentFactory, MentionFactory, ReportFactory, entity_key
from tests.radreview.factories import UserFactory

TEXT = "🫁 우상엽에 결절 있음. GGO in RUL."


@pytest.fixture
def mine(annotator):
    return AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator)


def post(client, path, data):
    return client.post(path, data, content_type="application/json")


def test_unauthenticated_requests_get_401_or_403_not_a_redirect(mine):
    response = Client().get(f"/api/assignments/{mine.pk}/")
    assert response.status_code in (401, 403)


def test_token_authentication_works_for_the_annotator(mine, annotator):
    token = Token.objects.create(user=annotator)
    response = Client().get("/api/assignments/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_workspace_lists_text_suggestions_and_code_point_offsets(client, annotator, mine):
    client.force_login(annotator)
    body = client.get(f"/api/assignments/{mine.pk}/").json()
    assert body["text"] == TEXT and body["editable"] is True
    suggestions = {(s["key"], s["start"], s["end"]) for s in body["suggestions"]}
    assert ("right upper lobe", 2, 5) in suggestions  # after the emoji: code points, not UTF-16 units
    assert all(TEXT[s["start"] : s["end"]] == s["text"] for s in body["suggestions"])


def test_annotator_creates_updates_pairs_and_submits(client, annotator, mine):
    client.force_login(annotator)
    nodule = post(
        client,
        f"/api/assignments/{mine.pk}/mentions/",
        {"key": entity_key("nodule").pk, "start": 7, "end": 9, "text": "결절"},
    )
    assert nodule.status_code == 201 and nodule.json()["text"] == "결절"
    rul = post(
        client,
        f"/api/assignments/{mine.pk}/mentions/",
        {"key": entity_key("right upper lobe").pk, "start": 2, "end": 5},
    )
    pair = post(
        client,
        f"/api/assignments/{mine.pk}/relations/",
        {"source_mention": nodule.json()["id"], "target_mention": rul.json()["id"]},
    )
    assert pair.status_code == 201 and pair.json()["target_key"] == "right upper lobe"
    flagged = client.patch(
        f"/api/assignments/{mine.pk}/mentions/{nodule.json()['id']}/",
        {"uncertain": True},
        content_type="application/json",
    )
    assert flagged.json()["uncertain"] is True
    submitted = post(client, f"/api/assignments/{mine.pk}/submit/", {})
    assert submitted.json() == {"submitted": True, "issues": []}
    mine.refresh_from_db()
    assert mine.status == Assignment.Status.SUBMITTED


def test_bad_offsets_are_a_400_with_the_reason(client, annotator, mine):
    client.force_login(annotator)
    response = post(
        client,
        f"/api/assignments/{mine.pk}/mentions/",
        {"key": entity_key("nodule").pk, "start": 8, "end": 10, "text": "결절"},
    )
    assert response.status_code == 400
    assert "does not match" in str(response.json())
    assert not Mention.objects.exists()


def test_clinician_cannot_annotate_someone_elses_assignment(client, clinician, mine):
    client.force_login(clinician)
    assert client.get(f"/api/assignments/{mine.pk}/").status_code == 403
    response = post(
        client,
        f"/api/assignments/{mine.pk}/mentions/",
        {"key": entity_key("nodule").pk, "start": 7, "end": 9},
    )
    assert response.status_code == 403
    assert client.get("/api/assignments/").status_code == 403
    assert not Mention.objects.exists()


def test_another_annotator_cannot_touch_my_assignment(client, annotator, mine):
    other = UserFactory(username="ann-x")
    other.groups.add(*annotator.groups.all())
    mention = MentionFactory(assignment=mine, key=entity_key("nodule"), start=7, end=9)
    client.force_login(other)
    assert client.delete(f"/api/assignments/{mine.pk}/mentions/{mention.pk}/").status_code == 403
    assert post(client, f"/api/assignments/{mine.pk}/submit/", {}).status_code == 403
    assert Mention.objects.filter(pk=mention.pk).exists()


def test_annotator_cannot_assign_reorder_adjudicate_or_run_weak_labels(client, annotator, mine):
    client.force_login(annotator)
    assign = {"modality": "chest_ct", "how": "sample", "n": 1, "annotators": [annotator.pk]}
    assert post(client, "/api/assignments/", assign).status_code == 403
    assert post(client, "/api/queue/reorder/", {"order": "random"}).status_code == 403
    assert post(client, "/api/adjudications/", {"report": mine.report_id}).status_code == 403
    assert post(client, "/api/weak-labels/runs/", {"modalities": ["chest_ct"]}).status_code == 403
    assert client.get("/api/weak-labels/evaluation/").status_code == 403


def test_admin_assigns_through_the_api(client, admin_user, annotator, chest_ct):
    ReportFactory.create_batch(3)
    client.force_login(admin_user)
    response = post(
        client,
        "/api/assignments/",
        {"modality": "chest_ct", "how": "sample", "n": 2, "annotators": [annotator.pk], "order": "oldest"},
    )
    assert response.status_code == 201 and response.json() == {"reports": 2, "created": 2, "skipped": 0}
    refused = post(
        client,
        "/api/assignments/",
        {
            "modality": "chest_ct",
            "how": "sample",
            "n": 2,
            "annotators": [annotator.pk],
            "order": "uncertainty",
        },
    )
    # Well formed, but no stage-1 predictions exist yet: the data refuses it (409), not the input.
    assert refused.status_code == 409 and "stage-1" in str(refused.json())
    everyone = client.get("/api/assignments/", {"all": "1"}).json()
    assert everyone["count"] == 2


def test_admin_adjudicates_through_the_api(client, admin_user, annotator):
    other = UserFactory(username="ann-y")
    other.groups.add(*annotator.groups.all())
    report = ReportFactory(text=TEXT)
    a = AssignmentFactory(report=report, annotator=annotator, status="submitted")
    AssignmentFactory(report=report, annotator=other, status="submitted")
    MentionFactory(assignment=a, key=entity_key("nodule"), start=7, end=9)
    client.force_login(admin_user)
    response = post(client, "/api/adjudications/", {"report": report.pk, "pick": a.pk})
    assert response.status_code == 201
    assert response.json()["kind"] == "adjudication"
    assert [(m["key"], m["text"]) for m in response.json()["mentions"]] == [("nodule", "결절")]
    agreement = client.get(
        "/api/agreement/", {"modality": "chest_ct", "annotator_a": annotator.pk, "annotator_b": other.pk}
    )
    assert agreement.status_code == 200 and agreement.json()["reports"] == 1
    assert agreement.json()["spans"]["definition"] == "exact (key, start, end) match"


def test_relation_on_implicit_location_key_is_a_400(client, annotator, mine):
    client.force_login(annotator)
    effusion = MentionFactory(assignment=mine, key=entity_key("pleural effusion"), start=7, end=9)
    response = post(
        client,
        f"/api/assignments/{mine.pk}/relations/",
        {"source_mention": effusion.pk, "target_key": entity_key("pleura").pk},
    )
    assert response.status_code == 400 and "implicit" in str(response.json())
    assert not Relation.objects.exists()


def test_mention_span_is_moved_through_the_api(client, annotator, mine):
    client.force_login(annotator)
    ggo = MentionFactory(assignment=mine, key=entity_key("ground-glass opacity"), start=14, end=16)
    moved = client.patch(
        f"/api/assignments/{mine.pk}/mentions/{ggo.pk}/",
        {"start": 14, "end": 17, "text": "GGO"},
        content_type="application/json",
    )
    assert moved.status_code == 200 and (moved.json()["start"], moved.json()["text"]) == (14, "GGO")
    wrong = client.patch(
        f"/api/assignments/{mine.pk}/mentions/{ggo.pk}/",
        {"start": 14, "end": 17, "text": "XYZ"},
        content_type="application/json",
    )
    assert wrong.status_code == 400 and "does not match" in str(wrong.json())


def test_accept_all_suggestions_through_the_api(client, annotator, mine):
    client.force_login(annotator)
    suggested = client.get(f"/api/assignments/{mine.pk}/").json()["suggestions"]
    response = post(client, f"/api/assignments/{mine.pk}/suggestions/accept/", {})
    assert response.status_code == 200 and response.json()["created"] == len(suggested) > 0
    assert response.json()["workspace"]["suggestions"] == []
    assert Mention.objects.filter(assignment=mine).count() == len(suggested)


def test_admin_takes_back_an_unstarted_assignment_but_not_a_started_one(client, admin_user, annotator, mine):
    started = AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator)
    MentionFactory(assignment=started, key=entity_key("nodule"), start=7, end=9)
    client.force_login(annotator)
    assert client.delete(f"/api/assignments/{mine.pk}/").status_code == 403
    client.force_login(admin_user)
    assert client.delete(f"/api/assignments/{started.pk}/").status_code == 400
    assert client.delete(f"/api/assignments/{mine.pk}/").status_code == 204
    assert list(Assignment.objects.values_list("pk", flat=True)) == [started.pk]


def test_queue_api_lists_in_progress_then_to_do_then_submitted(client, annotator, mine):
    done = AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator, status="submitted")
    busy = AssignmentFactory(report=ReportFactory(text=TEXT), annotator=annotator, status="in_progress")
    client.force_login(annotator)
    rows = client.get("/api/assignments/").json()["results"]
    assert [r["id"] for r in rows] == [busy.pk, mine.pk, done.pk]


def test_agreement_api_answers_bad_parameters_with_a_400_and_defaults_to_the_busiest_pair(
    client, admin_user, annotator
):
    other = UserFactory(username="ann-z")
    other.groups.add(*annotator.groups.all())
    report = ReportFactory(text=TEXT)
    AssignmentFactory(report=report, annotator=annotator, status="submitted")
    AssignmentFactory(report=report, annotator=other, status="submitted")
    client.force_login(admin_user)
    assert client.get("/api/agreement/", {"modality": "nope"}).status_code == 400
    bad = client.get("/api/agreement/", {"modality": "chest_ct", "annotator_a": "x", "annotator_b": "y"})
    assert bad.status_code == 400
    same = client.get(
        "/api/agreement/", {"modality": "chest_ct", "annotator_a": other.pk, "annotator_b": other.pk}
    )
    assert same.status_code == 400 and "different" in str(same.json())
    body = client.get("/api/agreement/", {"modality": "chest_ct"}).json()
    assert body["reports"] == 1 and {body["annotator_a"], body["annotator_b"]} == {
        "ann-z",
        annotator.username,
    }
    assert body["annotator_pairs"][0]["reports"] == 1 and "agreement" in body["pairs"]


def test_adjudication_api_lists_reports_and_shows_both_versions_with_differences(
    client, admin_user, annotator
):
    other = UserFactory(username="ann-w")
    other.groups.add(*annotator.groups.all())
    report = ReportFactory(text=TEXT)
    a = AssignmentFactory(report=report, annotator=annotator, status="submitted")
    b = AssignmentFactory(report=report, annotator=other, status="submitted")
    same_a = MentionFactory(assignment=a, key=entity_key("nodule"), start=7, end=9)
    MentionFactory(assignment=b, key=entity_key("nodule"), start=7, end=9, negated=True)
    only_b = MentionFactory(assignment=b, key=entity_key("ground-glass opacity"), start=14, end=17)
    client.force_login(annotator)
    assert client.get(f"/api/adjudications/{report.pk}/").status_code == 403
    client.force_login(admin_user)
    listed = client.get("/api/adjudications/", {"modality": "chest_ct"}).json()["results"]
    assert listed == [
        {
            "report": report.pk,
            "external_id": report.external_id,
            "study_datetime": listed[0]["study_datetime"],
            "annotations": 2,
            "adjudicated": False,
        }
    ]
    detail = client.get(f"/api/adjudications/{report.pk}/").json()
    assert [v["id"] for v in detail["versions"]] == [a.pk, b.pk]
    assert detail["differences"]["only_in_one_mentions"] == [only_b.pk]
    assert same_a.pk in detail["differences"]["flags_differ_mentions"]
    assert detail["gold"] is None
    assert client.get("/api/adjudications/", {"modality": "nope"}).status_code == 400
