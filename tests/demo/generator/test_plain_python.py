"""The generator is plain Python: benches and scripts import it without Django (a
module of a Django app that needs Django would pull `django` in with it)."""

import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import sys
import demo.generator.corpus

print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "celery"))))
"""


def test_importing_the_generator_loads_no_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == ""
