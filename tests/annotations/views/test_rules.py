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


# -- search, filters and pages (issue 18) ------------------------------------------------


def _trigger_phrases(response) -> list[str]:
    return [t.phrase for t in response.context["triggers"]]


def test_rules_search_finds_triggers_and_words_by_their_text(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("annotations:rules"), {"q": "not detect"})
    assert response.status_code == 200
    expected = sorted(
        AssertionTrigger.objects.filter(phrase__icontains="not detect").values_list("phrase", flat=True)
    )
    assert sorted(_trigger_phrases(response)) == expected and "not detected" in expected
    assert response.context["triggers"].paginator.count == len(expected)
    html = response.content.decode()
    assert f"{len(expected)} of {AssertionTrigger.objects.count()}" in html
    assert "No word matches these filters." in html  # no word list holds "not detect"


def test_rules_filters_combine_category_direction_state_and_origin(client, admin_user):
    rule_services.trigger_create(phrase="not appreciable", category="NEG", direction="BWD", user=admin_user)
    off = AssertionTrigger.objects.get(phrase="not detected", category="NEG", direction="BWD")
    rule_services.trigger_set_active(trigger=off, active=False)
    client.force_login(admin_user)
    url = reverse("annotations:rules")
    site = client.get(url, {"origin": "site"})
    assert _trigger_phrases(site) == ["not appreciable"]
    switched_off = client.get(url, {"state": "off", "category": "NEG"})
    assert _trigger_phrases(switched_off) == ["not detected"]
    bwd_neg = client.get(url, {"category": "NEG", "direction": "BWD", "state": "on"})
    assert {(t.category, t.direction, t.is_active) for t in bwd_neg.context["triggers"]} == {
        ("NEG", "BWD", True)
    }
    assert "not detected" not in _trigger_phrases(bwd_neg)


def test_rules_word_list_filter_and_search_look_in_group_and_key(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("annotations:rules"), {"kind": "location_word", "q": "right lower lobe"})
    entries = list(response.context["entries"])
    assert entries and {e.kind for e in entries} == {"location_word"}
    assert all("right lower lobe" in (e.text + e.group + e.value).lower() for e in entries)
    assert any(e.text == "right lower" and e.value == "right lower lobe" for e in entries)


def test_rules_triggers_come_in_pages_of_50(client, admin_user):
    client.force_login(admin_user)
    total = AssertionTrigger.objects.count()
    first = client.get(reverse("annotations:rules"))
    assert len(first.context["triggers"]) == 50 and total > 50
    last_page = (total + 49) // 50
    last = client.get(reverse("annotations:rules"), {"page": last_page})
    assert len(last.context["triggers"]) == total - 50 * (last_page - 1)
    assert set(_trigger_phrases(first)).isdisjoint(_trigger_phrases(last))
    assert f"Page 1 of {last_page}" in first.content.decode()


def test_a_bad_filter_value_is_ignored_not_an_error(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("annotations:rules"), {"category": "BAD", "q": "not detected"})
    assert response.status_code == 200
    assert "not detected" in _trigger_phrases(response)


def test_switching_a_trigger_keeps_the_admins_filters(client, admin_user):
    client.force_login(admin_user)
    trigger = AssertionTrigger.objects.get(phrase="not detected", category="NEG", direction="BWD")
    response = client.post(
        reverse("annotations:rule_trigger_toggle", args=[trigger.pk]),
        {"filters": "q=not+detected&category=NEG&page=1"},
        **HTMX,
    )
    assert response.status_code == 200
    assert {t.category for t in response.context["triggers"]} == {"NEG"}
    assert all("not detected" in p for p in _trigger_phrases(response))
    assert response.context["filter_form"].values()["q"] == "not detected"


def test_the_search_box_asks_the_server_as_the_admin_types(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("annotations:rules")).content.decode()
    assert 'id="rule-filters"' in html and 'method="get"' in html  # a plain GET form without JS
    assert 'hx-trigger="input changed delay:300ms from:#rule-q, change"' in html
