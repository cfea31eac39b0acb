"""Static files (issue 18): WhiteNoise serves collectstatic's hashed, compressed copies
with a long lifetime; the chart pages load the partial plotly.js bundle, built for the
plotly.js version of the Python plotly package."""

import re
from pathlib import Path

import plotly
import pytest
from django.conf import settings
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client, override_settings

BUNDLE = Path(settings.BASE_DIR, "static", "vendor", "plotly-radreview-4.1.1.min.js")
TEMPLATE = Path(settings.BASE_DIR, "templates", "analytics", "base_analytics.html")
ONLY_OUR_STATIC = ["django.contrib.staticfiles.finders.FileSystemFinder"]


def _plotly_js_version(text: str) -> str:
    found = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", text[:500])
    assert found, "no plotly.js version in the header"
    return found.group(1)


def test_the_partial_bundle_is_the_plotly_js_the_python_package_builds_figures_for():
    package_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with package_js.open(encoding="utf-8") as f:
        package_version = _plotly_js_version(f.read(500))
    assert _plotly_js_version(BUNDLE.read_text(encoding="utf-8")) == package_version
    assert f"plotly-radreview-{package_version}.min.js" in TEMPLATE.read_text(encoding="utf-8")


def test_the_partial_bundle_is_a_quarter_of_the_full_one():
    package_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert BUNDLE.stat().st_size < 1_300_000 < package_js.stat().st_size / 3


def test_an_uncollected_file_keeps_its_plain_name_in_development(tmp_path):
    storages = {"staticfiles": {"BACKEND": "radreview.staticfiles.StaticStorage"}}
    with override_settings(STORAGES=storages, STATIC_ROOT=tmp_path, DEBUG=False):
        assert static("css/app.css") == "/static/css/app.css"  # no manifest: not an error


@pytest.mark.slow
def test_collected_files_are_hashed_compressed_and_kept_for_good(tmp_path, db):
    # Development's storage; production's is WhiteNoise's, which it extends.
    storages = {"staticfiles": {"BACKEND": "radreview.staticfiles.StaticStorage"}}
    with override_settings(
        STORAGES=storages, STATIC_ROOT=tmp_path, STATICFILES_FINDERS=ONLY_OUR_STATIC, DEBUG=False
    ):
        call_command("collectstatic", "--noinput", verbosity=0)
        url = static("vendor/plotly-radreview-4.1.1.min.js")
        assert re.fullmatch(r"/static/vendor/plotly-radreview-4\.1\.1\.min\.[0-9a-f]{12}\.js", url)
        name = url.removeprefix("/static/")
        assert (tmp_path / f"{name}.br").exists() and (tmp_path / f"{name}.gz").exists()
        client = Client()  # its middleware (WhiteNoise) reads the collected files now
        response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
        assert response.status_code == 200
        assert response["Content-Encoding"] == "br"
        assert response["Cache-Control"] == "max-age=315360000, public, immutable"
        served = b"".join(response.streaming_content)
        assert len(served) == (tmp_path / f"{name}.br").stat().st_size < BUNDLE.stat().st_size / 3
        # A file asked for by its plain name is served too, for WHITENOISE_MAX_AGE.
        plain = client.get("/static/css/app.css")
        assert plain.status_code == 200
        assert plain["Cache-Control"] == f"max-age={settings.WHITENOISE_MAX_AGE}, public"
