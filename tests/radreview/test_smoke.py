"""Smoke: the test database comes up with the default schema the migrations install."""

from annotations.models import EntityKey, EntityValue, Modality


def test_default_schema_is_installed_by_migration(db):
    assert set(Modality.objects.values_list("code", flat=True)) == {"chest_ct", "brain_mri"}
    assert EntityKey.objects.filter(entity_type__modality__code="chest_ct").count() == 22
    assert EntityValue.objects.filter(key__name="ground-glass opacity", text="GGO").exists()
