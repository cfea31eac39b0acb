"""The entity-value manager's search and filters (issue 18): a GET form over the
modality's values (their text or their key's name), by kind and entity type, in pages."""

from django.db.models import Q
from django.urls import reverse

from annotations.models import EntityValue
from annotations.services import values as value_services
from tests.annotations.factories import entity_key

URL = "annotations:values"


def _texts(response) -> list[tuple[str, str]]:
    return [(v.key.name, v.text) for v in response.context["matches"]]


def test_search_finds_values_by_their_text_or_their_keys_name(client, admin_user, chest_ct):
    client.force_login(admin_user)
    response = client.get(reverse(URL), {"modality": "chest_ct", "q": "nodul"})
    assert response.status_code == 200
    expected = EntityValue.objects.filter(key__entity_type__modality=chest_ct).filter(
        Q(text__icontains="nodul") | Q(key__name__icontains="nodul")
    )
    assert sorted(_texts(response)) == sorted((v.key.name, v.text) for v in expected)
    assert ("nodule", "nodule") in _texts(response)
    # The index keeps only the keys with a matching value.
    assert {k.pk for k in response.context["keys"]} == {v.key_id for v in expected}
    assert f'id="match-count">{expected.count()}<' in response.content.decode()


def test_kind_and_type_filters_narrow_the_matches(client, admin_user, chest_ct):
    value_services.entity_value_create(
        key=entity_key("nodule"), text=r"nodul\w*", kind="regex", user=admin_user
    )
    lesion = entity_key("nodule").entity_type
    client.force_login(admin_user)
    response = client.get(reverse(URL), {"modality": "chest_ct", "kind": "regex", "entity_type": lesion.pk})
    rows = list(response.context["matches"])
    assert rows and {(v.kind, v.key.entity_type_id) for v in rows} == {("regex", lesion.pk)}
    assert ("nodule", r"nodul\w*") in _texts(response)
    expected = EntityValue.objects.filter(kind="regex", key__entity_type=lesion).count()
    assert response.context["matches"].paginator.count == expected


def test_a_search_only_looks_in_the_modality_shown(client, admin_user, chest_ct, brain_mri):
    client.force_login(admin_user)
    response = client.get(reverse(URL), {"modality": "brain_mri", "q": "nodul"})
    assert {v.key.entity_type.modality_id for v in response.context["matches"]} <= {brain_mri.pk}


def test_no_filter_shows_the_key_panel_and_no_results(client, admin_user, chest_ct):
    client.force_login(admin_user)
    response = client.get(reverse(URL), {"modality": "chest_ct"})
    html = response.content.decode()
    assert response.context["filtered"] is False
    assert 'id="key-panel"' in html and 'id="value-results"' not in html
    assert (
        'id="value-filters"' in html
        and 'hx-trigger="input changed delay:300ms from:#value-q, change"' in html
    )


def test_a_search_with_no_match_says_so(client, admin_user, chest_ct):
    client.force_login(admin_user)
    response = client.get(reverse(URL), {"modality": "chest_ct", "q": "zzzz-nothing"})
    assert _texts(response) == [] and response.context["keys"] == []
    assert "No value matches." in response.content.decode()


def test_the_search_is_for_schema_admins_only(client, annotator, chest_ct):
    client.force_login(annotator)
    assert client.get(reverse(URL), {"modality": "chest_ct", "q": "nodule"}).status_code == 403
