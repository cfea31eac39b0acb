"""The site's LLM question policy: the shipped default, a measurement on verified
data, an admin's choice, and the admin screen that shows and sets it."""

import pytest
from django.test import Client
from django.urls import reverse

from inference.ml.questions import DEFAULT_ASKED, LOCATION, STATUS_DISAGREE, STATUS_SILENT
from inference.models import LLMQuestionType
from inference.services.questions import question_choose, question_help_record, question_policy

pytestmark = pytest.mark.django_db

HELPED = {"asked": 10, "answered": 9, "changed": 6, "right": 5, "wrong": 1, "helps": True}
HURT = {"asked": 10, "answered": 9, "changed": 6, "right": 1, "wrong": 4, "helps": False}


def test_without_rows_the_shipped_default_is_asked():
    assert question_policy().asked == DEFAULT_ASKED


def test_a_measurement_asks_what_helped_and_stops_what_hurt():
    LLMQuestionType.objects.create(code=STATUS_DISAGREE, asked=True)
    changed = question_help_record(
        help={LOCATION: HELPED, STATUS_DISAGREE: HURT, STATUS_SILENT: {"asked": 0}},
        gold="all_gold",
        reports=40,
    )
    assert question_policy().asks(LOCATION) and not question_policy().asks(STATUS_DISAGREE)
    row = LLMQuestionType.objects.get(code=LOCATION)
    assert (row.set_by, row.measured["right"], row.measured["reports"]) == ("measurement", 5, 40)
    assert set(changed) == {STATUS_DISAGREE} | ({LOCATION} - DEFAULT_ASKED)
    assert not LLMQuestionType.objects.filter(code=STATUS_SILENT).exists()  # never asked: nothing learnt


def test_an_admin_choice_outlives_later_measurements_until_handed_back(admin_user):
    question_choose(code=LOCATION, asked=False, user=admin_user)
    question_help_record(help={LOCATION: HELPED}, gold="all_gold", reports=40)
    row = LLMQuestionType.objects.get(code=LOCATION)
    assert (row.asked, row.set_by, row.measured["right"]) == (False, "admin", 5)
    question_choose(code=LOCATION, asked=None, user=admin_user)
    assert question_policy().asks(LOCATION)
    assert LLMQuestionType.objects.get(code=LOCATION).set_by == "measurement"


def test_an_unknown_question_type_is_refused(admin_user):
    with pytest.raises(ValueError, match="unknown question type"):
        question_choose(code="everything", asked=True, user=admin_user)


def test_admins_see_the_question_types_and_change_one(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("inference:llm_status")).content.decode()
    assert 'id="question-location"' in page
    assert ('value="skip"' if LOCATION in DEFAULT_ASKED else 'value="ask"') in page
    response = client.post(reverse("inference:llm_question_choose", args=[LOCATION]), {"choice": "ask"})
    assert response.status_code == 302
    row = LLMQuestionType.objects.get(code=LOCATION)
    assert (row.asked, row.set_by, row.updated_by) == (True, "admin", admin_user)


@pytest.mark.parametrize("role", ["annotator", "clinician"])
def test_other_roles_cannot_change_the_questions(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.post(reverse("inference:llm_question_choose", args=[LOCATION]), {"choice": "ask"})
    assert response.status_code == 403 and not LLMQuestionType.objects.exists()


def test_a_choice_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("inference:llm_question_choose", args=[LOCATION]), {"choice": "ask"})
    assert response.status_code == 403 and not LLMQuestionType.objects.exists()


def test_a_bad_choice_is_refused(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("inference:llm_question_choose", args=[LOCATION]), {"choice": "maybe"})
    assert response.status_code == 400
