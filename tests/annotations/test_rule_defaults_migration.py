"""Data migration 0007 brings the issue 8 defaults into a database seeded before
them, keeps an admin's edits, and is a no-op the second time."""

import importlib

import pytest
from django.apps import apps

from annotations.models import AssertionTrigger, EntityValue, Modality, RuleEntry

migration = importlib.import_module("annotations.migrations.0007_issue8_rule_defaults")


def _versions() -> dict[str, int]:
    return dict(Modality.objects.values_list("code", "schema_version"))


@pytest.mark.django_db
def test_a_database_seeded_before_the_additions_receives_them_once(chest_ct):
    EntityValue.objects.filter(key__name="fibrosis", text="sequelae").delete()
    AssertionTrigger.objects.filter(phrase="cannot be evaluated").delete()
    AssertionTrigger.objects.filter(phrase="cannot be excluded").update(window=None)
    RuleEntry.objects.filter(kind="modified_head", text="calcifications").delete()
    before = _versions()

    migration.add_defaults(apps, None)

    assert EntityValue.objects.filter(
        key__entity_type__modality=chest_ct, key__name="fibrosis", text="sequelae", kind="keyword"
    ).exists()
    added = AssertionTrigger.objects.get(phrase="cannot be evaluated")
    assert (added.category, added.direction, added.window, added.is_default) == ("NEG", "BWD", 6, True)
    assert AssertionTrigger.objects.get(phrase="cannot be excluded").window == 16
    assert RuleEntry.objects.filter(kind="modified_head", text="calcifications", is_default=True).exists()
    after = _versions()
    assert all(after[code] == before[code] + 1 for code in before)

    migration.add_defaults(apps, None)
    assert _versions() == after  # nothing new the second time: no version bump


@pytest.mark.django_db
def test_an_admins_window_is_kept(chest_ct):
    AssertionTrigger.objects.filter(phrase="cannot be excluded").update(window=5)
    migration.add_defaults(apps, None)
    assert AssertionTrigger.objects.get(phrase="cannot be excluded").window == 5


@pytest.mark.django_db
def test_every_frozen_value_names_an_existing_key(chest_ct):
    names = {(code, name) for code, name, _, _ in migration.VALUES}
    found = {
        (code, name)
        for code, name in apps.get_model("annotations", "EntityKey").objects.values_list(
            "entity_type__modality__code", "name"
        )
    }
    assert names <= found
