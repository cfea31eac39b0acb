"""Static files storages: WhiteNoise's compressed, content-hashed storage, compressing
only what changed since the last collectstatic, and, for development and the demo, the
same storage lenient about files collectstatic has not collected (a checkout that never
ran it still renders every page)."""

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from whitenoise.storage import CompressedManifestStaticFilesStorage  # type: ignore[import-untyped]

# A name with the manifest's content hash in it ("app.3f2a9c1b7d4e.css"): the same name
# always holds the same content, however often post-processing writes it again.
HASHED = re.compile(r"\.[0-9a-f]{12}\.[^./]+$")


class IncrementalCompressedStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise compresses every file at every collectstatic (brotli at its best level:
    minutes on a busy two-core machine); this storage leaves alone a hashed file that has
    its compressed copies, and a plain one whose copies are newer than it. Production's
    storage."""

    def compress_files(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        compressor = self.create_compressor(quiet=True)
        suffixes = [s for s, used in ((".gz", compressor.use_gzip), (".br", compressor.use_brotli)) if used]
        yield from super().compress_files([p for p in paths if not _fresh(Path(self.path(p)), suffixes)])


def _fresh(source: Path, suffixes: list[str]) -> bool:
    try:
        copies = [source.with_name(source.name + s).stat().st_mtime for s in suffixes]
        return bool(HASHED.search(source.name)) or min(copies) >= source.stat().st_mtime
    except FileNotFoundError:  # no copy yet (or too small to be worth one)
        return False


class StaticStorage(IncrementalCompressedStorage):
    """Development and the demo (scripts/run.sh)."""

    manifest_strict = False

    def stored_name(self, name: str) -> str:
        """The hashed name from the manifest, or the plain name when the file is not in
        it (WhiteNoise then serves it from the finders in DEBUG, or answers 404)."""
        try:
            return super().stored_name(name)
        except ValueError:  # not collected: no manifest entry and no file to hash
            return name
