"""The rules page: the rule engine's triggers and word lists are data in the
database, seeded from default_rules.json, shown to and extended by admins only,
and a change moves the schema version."""

import pytest
from django.urls import reverse

from annotations import selectors
from annotations.models import AssertionTrigger, RuleEntry
from annotations.services import rules as rule_services
from inference.ml.defaults import default_rules, default_ruleset
from inference.ml.engine import RuleEngine

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_migration_seeds_the_default_rules(db):
    assert AssertionTrigger.objects.count() == len(
        {(t["phrase"], t["category"], t["direction"]) for t in default_rules()["triggers"]}
    )
    assert AssertionTrigger.objects.filter(phrase="not detected", category="NEG").exists()
    assert RuleEntry.objects.filter(
        kind="location_word", group="keys", text="right lower", value="right lower lobe"
    ).exists()
    assert rule_services.rules_seed() == 0  # idempotent


def test_ruleset_from_the_database_equals_the_defaults_until_edited(db):
    assert selectors.ruleset_from_db().digest() == default_ruleset().digest()


def test_rules_page_is_for_admins_only(client, annotator, clinician, admin_user):
    url = reverse("annotations:rules")
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.post(reverse("annotations:rule_trigger_add"), {"phrase": "x"}).status_code == 403
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200
    assert "not detected" in response.content.decode()


def test_admin_adds_a_trigger_that_applies_and_bumps_the_schema_version(client, admin_user, chest_ct):
    version = chest_ct.schema_version
    client.force_login(admin_user)
    response = client.post(
        reverse("annotations:rule_trigger_add"),
        {"phrase": "not appreciable", "category": "NEG", "direction": "BWD", "window": "6"},
        **HTMX,
    )
    assert response.status_code == 200
    trigger = AssertionTrigger.objects.get(phrase="not appreciable")
    assert (trigger.window, trigger.created_by, trigger.is_default, trigger.language) == (
        6,
        admin_user,
        False,
        "en",
    )
    chest_ct.refresh_from_db()
    assert chest_ct.schema_version == version + 1
    detector = selectors.site_detector()
    text = "Consolidation is not appreciable."
    assert detector.statuses(text, [(0, 13)]) == ["negated"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"phrase": "", "category": "NEG", "direction": "FWD"}, "Enter a phrase"),
        ({"phrase": "re:(", "category": "NEG", "direction": "FWD"}, "Not a valid regular expression"),
        (
            {"phrase": "re:[a-z]+", "category": "NEG", "direction": "FWD"},
            "must start with a non-Latin literal",
        ),
        ({"phrase": "no", "category": "NEG", "direction": "FWD"}, "exists already"),
        ({"phrase": "zzz", "category": "BAD", "direction": "FWD"}, "Choose one of"),
        ({"phrase": "zzz", "category": "NEG", "direction": "FWD", "window": "many"}, "whole number"),
    ],
)
def test_bad_trigger_is_a_message_not_a_500(client, admin_user, data, message):
    client.force_login(admin_user)
    count = AssertionTrigger.objects.count()
    response = client.post(reverse("annotations:rule_trigger_add"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert AssertionTrigger.objects.count() == count


def test_switching_a_trigger_off_removes_it_from_the_rules(client, admin_user):
    client.force_login(admin_user)
    trigger = AssertionTrigger.objects.get(phrase="not detected", category="NEG", direction="BWD")
    assert (
        client.post(reverse("annotations:rule_trigger_toggle", args=[trigger.pk]), **HTMX).status_code == 200
    )
    trigger.refresh_from_db()
    assert trigger.is_active is False
    phrases = {t[0] for t in selectors.ruleset_from_db().triggers}
    assert "not detected" not in phrases


def test_admin_adds_a_location_word_the_engine_then_reads(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("annotations:rule_entry_add"),
        {"kind": "location_word", "group": "right", "text": "dexter"},
        **HTMX,
    )
    assert response.status_code == 200
    ruleset = selectors.ruleset_from_db()
    assert "dexter" in ruleset.location_words["right"]
    engine = RuleEngine(
        {"nodule": [("nodule", "keyword")]},
        findings=["nodule"],
        locations=["right lower lobe"],
        rules=ruleset,
    )
    assert engine.extract("Nodule in the dexter lower lobe.").by_key()["nodule"].locations == [
        "right lower lobe"
    ]


def test_location_combination_needs_its_key(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("annotations:rule_entry_add"),
        {"kind": "location_word", "group": "keys", "text": "right apex"},
    )
    assert response.status_code == 400
    assert "which location key" in response.content.decode()


def test_the_site_rules_are_cached_until_the_rules_version_moves(chest_ct, django_assert_num_queries):
    detector = selectors.site_detector()
    with django_assert_num_queries(2):  # one query for the version per call, nothing rebuilt
        assert selectors.site_detector() is detector
        assert selectors.site_ruleset().digest() == default_ruleset().digest()
    with django_assert_num_queries(0):  # a loaded modality carries the version
        assert selectors.site_detector(modality=chest_ct) is selectors.site_detector(modality=chest_ct)
    rule_services.trigger_create(phrase="not appreciable", category="NEG", direction="BWD")
    chest_ct.refresh_from_db()
    assert selectors.site_detector(modality=chest_ct) is not detector
    assert selectors.site_detector() is not detector
    assert "not appreciable" in {t[0] for t in selectors.site_ruleset().triggers}
