"""A form error keeps the user's other choices (issue 18): the import, label import,
training and evaluation forms re-render bound, with the values the user chose."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


def _selected(html: str, name: str) -> list[str]:
    """The selected options of the <select name=...>."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"[^>]*selected', select[1])


def _checked(html: str, name: str) -> set[str]:
    boxes = re.findall(rf'<input type="checkbox" name="{name}" value="([^"]+)"[^>]*?( checked)?>', html)
    return {value for value, checked in boxes if checked}


@pytest.fixture
def uploads(settings, tmp_path):
    settings.UPLOAD_DIR = tmp_path / "uploads"
    return settings.UPLOAD_DIR


def test_the_report_import_form_keeps_source_format_duplicates_and_modality(
    client, admin_user, uploads, chest_ct
):
    client.force_login(admin_user)
    data = {
        "source": "hospital-z",
        "fmt": "omop",
        "on_duplicate": "update",
        "modality": "chest_ct",
        "file": SimpleUploadedFile("notes.csv", PNG),
    }
    html = client.post(reverse("annotations:import_upload"), data).content.decode()
    assert "a PNG image" in html
    assert 'value="hospital-z"' in html
    assert _selected(html, "fmt") == ["omop"]
    assert _selected(html, "on_duplicate") == ["update"]
    assert _selected(html, "modality") == ["chest_ct"]


def test_the_label_import_form_keeps_source_label_source_and_format(client, admin_user, uploads):
    client.force_login(admin_user)
    data = {
        "source": "hospital-z",
        "label_source": "registry-2024",
        "fmt": "csv",
        "file": SimpleUploadedFile("labels.csv", PNG),
    }
    response = client.post(reverse("annotations:label_import_upload"), data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'value="hospital-z"' in html and 'value="registry-2024"' in html
    assert _selected(html, "fmt") == ["csv"]


def test_the_training_form_keeps_the_recipe(client, admin_user, chest_ct, brain_mri):
    client.force_login(admin_user)
    data = {
        "modality": "brain_mri",
        "preset": "base",
        "label_sources": "gold",
        "weak_mode": "auto",
        "pretrain": "on",
        "epochs": "0",  # the error
    }
    response = client.post(reverse("inference:train_start"), data)
    html = response.content.decode()
    assert response.status_code == 400
    train = html[html.index('id="train-card"') :]
    assert _selected(train, "modality") == ["brain_mri"]
    assert _selected(train, "preset") == ["base"]
    assert _selected(train, "label_sources") == ["gold"]
    assert re.search(r'name="pretrain"[^>]*checked', train)
    assert 'name="epochs" value="0"' in train


def test_the_evaluation_form_keeps_modality_gold_set_and_methods(client, admin_user, chest_ct, brain_mri):
    client.force_login(admin_user)
    data = {
        "modality": "brain_mri",
        "gold_set": "file",
        "modes": ["rules"],
        "gold_file": SimpleUploadedFile("gold.jsonl", PNG),
    }
    response = client.post(reverse("analytics:evaluation_create"), data)
    html = response.content.decode()
    assert response.status_code == 400 and "a PNG image" in html
    assert _selected(html, "modality") == ["brain_mri"]
    assert _selected(html, "gold_set") == ["file"]
    assert _checked(html, "modes") == {"rules"}
