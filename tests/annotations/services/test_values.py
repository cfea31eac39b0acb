"""The entity-value manager: counts, add / edit / delete with regex validation, preview."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotations.models import EntityValue
from annotations.services import values as value_services
from tests.annotations.factories import ReportFactory, entity_key

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def corpus(chest_ct, brain_mri):
    ReportFactory(text="Tiny nodule in RUL. <b>x</b>")
    ReportFactory(text="Nodules in both lungs.")
    ReportFactory(text="Micronodular pattern.")
    ReportFactory(text="nodule", modality=brain_mri)  # another modality: not counted


def test_count_is_reports_of_the_modality_the_value_matches_on_its_own(corpus):
    value = EntityValue.objects.get(key=entity_key("nodule"), text="nodule")
    assert value_services.entity_value_count(value=value) == 1
    value.refresh_from_db()
    assert value.report_count == 1 and value.counted_at is not None
    regex = EntityValue.objects.get(key=entity_key("nodule"), kind="regex")
    assert value_services.entity_value_count(value=regex) == 2  # nodule, nodules; not "micronodular"


def test_create_counts_and_bumps_the_schema_version(corpus, chest_ct, admin_user):
    version = chest_ct.schema_version
    value = value_services.entity_value_create(
        key=entity_key("nodule"), text="micronodular  pattern", user=admin_user
    )
    assert (value.text, value.report_count, value.created_by) == ("micronodular pattern", 1, admin_user)
    chest_ct.refresh_from_db()
    assert chest_ct.schema_version == version + 1


def test_duplicate_keyword_in_another_case_is_refused(corpus):
    with pytest.raises(ValidationError, match="already has"):
        value_services.entity_value_create(key=entity_key("nodule"), text="NODULE")


def test_invalid_regex_is_a_validation_error(corpus):
    with pytest.raises(ValidationError, match="Invalid regular expression"):
        value_services.entity_value_create(key=entity_key("nodule"), text="nodul(e", kind="regex")
    with pytest.raises(ValidationError, match="matches empty text"):
        value_services.entity_value_create(key=entity_key("nodule"), text="x?", kind="regex")


def test_preview_shows_escaped_snippets_and_counts(corpus, client, admin_user):
    client.force_login(admin_user)
    page = client.get(
        reverse("annotations:value_preview"),
        {"modality": "chest_ct", "text": "nodule", "kind": "keyword"},
        **HTMX,
    )
    body = page.content.decode()
    assert "Matches 1 of the 3 reports" in body
    assert "<mark>nodule</mark>" in body and "&lt;b&gt;x" in body


def test_manager_pages_are_for_schema_admins(client, annotator, clinician, admin_user, corpus):
    for user in (annotator, clinician):
        client.force_login(user)
        assert client.get(reverse("annotations:values")).status_code == 403
        assert client.get("/api/entity-values/").status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("annotations:values"), {"modality": "chest_ct"}).content.decode()
    assert "ground-glass opacity" in page and "<code>SPN</code>" in page  # key index; first key's values


def test_adding_an_invalid_regex_in_the_manager_shows_a_form_error_not_a_500(client, admin_user, corpus):
    client.force_login(admin_user)
    key = entity_key("nodule")
    before = EntityValue.objects.count()
    response = client.post(
        reverse("annotations:value_add", args=[key.pk]), {"text": "(?P<x", "kind": "regex"}, **HTMX
    )
    assert response.status_code == 200
    assert "Invalid regular expression" in response.content.decode()
    plain = client.post(
        reverse("annotations:value_add", args=[key.pk]), {"text": "[unclosed", "kind": "regex"}
    )
    assert plain.status_code == 400 and "Invalid regular expression" in plain.content.decode()
    preview = client.get(
        reverse("annotations:value_preview"), {"modality": "chest_ct", "text": "(", "kind": "regex"}, **HTMX
    )
    assert preview.status_code == 200 and "Invalid regular expression" in preview.content.decode()
    api = client.post(
        "/api/entity-values/",
        {"key": key.pk, "text": "a(b", "kind": "regex"},
        content_type="application/json",
    )
    assert api.status_code == 400 and "Invalid regular expression" in str(api.json())
    assert EntityValue.objects.count() == before


def test_add_edit_delete_through_the_manager(client, admin_user, corpus):
    client.force_login(admin_user)
    key = entity_key("nodule")
    client.post(
        reverse("annotations:value_add", args=[key.pk]),
        {"text": "micronodular pattern", "kind": "keyword"},
        **HTMX,
    )
    value = EntityValue.objects.get(key=key, text="micronodular pattern")
    client.post(
        reverse("annotations:value_edit", args=[value.pk]),
        {"text": r"micronodul\w*", "kind": "regex"},
        **HTMX,
    )
    value.refresh_from_db()
    assert (value.kind, value.report_count) == ("regex", 1)
    client.post(reverse("annotations:value_delete", args=[value.pk]), **HTMX)
    assert not EntityValue.objects.filter(pk=value.pk).exists()


def test_count_all_values_of_a_key_from_the_manager(client, admin_user, annotator, corpus):
    key = entity_key("pleural effusion")
    EntityValue.objects.filter(key=key).update(report_count=None)
    url = reverse("annotations:key_count", args=[key.pk])
    client.force_login(annotator)
    assert client.post(url).status_code == 403
    client.force_login(admin_user)
    response = client.post(url, **HTMX)
    assert response.status_code == 200 and "not counted" not in response.content.decode()
    assert not EntityValue.objects.filter(key=key, report_count=None).exists()


def test_a_catastrophic_regex_is_refused_with_a_clear_message_everywhere(client, admin_user, corpus):
    client.force_login(admin_user)
    key = entity_key("nodule")
    before = EntityValue.objects.count()
    form = client.post(reverse("annotations:value_add", args=[key.pk]), {"text": "(a+)+$", "kind": "regex"})
    assert form.status_code == 400 and "exponentially long" in form.content.decode()
    api = client.post(
        "/api/entity-values/",
        {"key": key.pk, "text": r"(\w+\s?)+$", "kind": "regex"},
        content_type="application/json",
    )
    assert api.status_code == 400 and "exponentially long" in str(api.json())
    with pytest.raises(ValidationError, match="exponentially long"):
        value_services.entity_value_create(key=key, text="(a|ab)*c", kind="regex")
    assert EntityValue.objects.count() == before
