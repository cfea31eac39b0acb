"""The static files storage of development and the demo: WhiteNoise's compressed,
content-hashed storage (what production uses), lenient about files collectstatic has
not collected, so a checkout that never ran it still renders every page."""

from whitenoise.storage import CompressedManifestStaticFilesStorage  # type: ignore[import-untyped]


class StaticStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        """The hashed name from the manifest, or the plain name when the file is not in
        it (WhiteNoise then serves it from the finders in DEBUG, or answers 404)."""
        try:
            return super().stored_name(name)
        except ValueError:  # not collected: no manifest entry and no file to hash
            return name
