"""Model versions are numbered per modality (issue 18): chest_ct-v1, brain_mri-v1,
chest_ct-v2; race-safe; the data migration numbers and renames the existing rows."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from inference.models import ModelVersion
from inference.services.stage1_training import training_job_create

migration = importlib.import_module("inference.migrations.0007_model_version_number_per_modality")


def _new(modality, name: str) -> ModelVersion:
    return ModelVersion.objects.create(modality=modality, name=name, preset="tiny")


def test_each_modality_counts_its_own_versions(chest_ct, brain_mri):
    a, b, c = _new(chest_ct, "a"), _new(brain_mri, "b"), _new(chest_ct, "c")
    assert (a.number, b.number, c.number) == (1, 1, 2)


def test_training_names_the_version_by_its_modality_number(chest_ct, brain_mri, admin_user, monkeypatch):
    from inference.services import stage1_training

    class _Inputs:
        problem = ""
        weak_mode = "keyword_negation"
        counts = {"gold": 10, "weak": 5}

    monkeypatch.setattr(stage1_training, "training_inputs_preview", lambda *a, **k: _Inputs())
    names = [
        training_job_create(modality=m, preset="tiny", label_sources="gold", user=admin_user)[1].name
        for m in (chest_ct, brain_mri, chest_ct)
    ]
    assert names == ["chest_ct-v1", "brain_mri-v1", "chest_ct-v2"]


def test_a_number_taken_meanwhile_is_retried_with_the_next_one(chest_ct, monkeypatch):
    _new(chest_ct, "first")
    real = QuerySet.aggregate
    calls = {"n": 0}

    def stale_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # another process read the same maximum before it inserted
            return {"top": 0}
        return real(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "aggregate", stale_once)
    with transaction.atomic():  # the caller's transaction stays usable after the collision
        second = _new(chest_ct, "second")
        assert ModelVersion.objects.filter(modality=chest_ct).count() == 2
    assert second.number == 2 and calls["n"] == 2


def test_another_integrity_error_is_not_retried(chest_ct):
    _new(chest_ct, "same")
    with pytest.raises(IntegrityError), transaction.atomic():
        _new(chest_ct, "same")  # the name is unique: no number would help
    assert ModelVersion.objects.count() == 1


def test_numbered_name_avoids_a_kept_old_name(chest_ct):
    _new(chest_ct, "chest_ct-v2")  # a name from before the numbering (number 1)
    version = _new(chest_ct, "pending")
    assert version.number == 2 and version.numbered_name() == f"chest_ct-v2.{version.pk}"


def test_the_migration_numbers_existing_rows_per_modality_in_creation_order(chest_ct, brain_mri):
    rows = [_new(m, f"tmp{i}") for i, m in enumerate((chest_ct, brain_mri, chest_ct, chest_ct))]
    for version in rows:  # as 0006 left them: global names, no number
        ModelVersion.objects.filter(pk=version.pk).update(
            number=None, name=f"{version.modality.code}-v{version.pk}"
        )
    custom = rows[3]
    ModelVersion.objects.filter(pk=custom.pk).update(name="site-favourite")

    migration.number_per_modality(apps, None)

    got = list(ModelVersion.objects.order_by("pk").values_list("modality__code", "number", "name"))
    assert got == [
        ("chest_ct", 1, "chest_ct-v1"),
        ("brain_mri", 1, "brain_mri-v1"),
        ("chest_ct", 2, "chest_ct-v2"),
        ("chest_ct", 3, "site-favourite"),  # a name chosen otherwise is kept
    ]
