"""Test settings: the same code paths as production, with fast password hashing.

DATABASE_URL and CELERY_BROKER_URL come from the environment (CI points them at
PostgreSQL and Redis); without them the embedded SQLite defaults apply.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-key")
os.environ.setdefault(
    "RADREVIEW_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "var", "test")
)

from radreview.settings.base import *
from radreview.settings.base import DATA_DIR, DATABASES, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not ":memory:", so that a real Celery worker process started by a
    # test can open the same test database.
    # The pid keeps concurrent test runs (developers, xdist) off each other's file.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    # Developers' concurrent runs against one server must not share test_<name>.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
# Tests run jobs synchronously inside a test transaction: a second connection beating
# for the job would wait on that transaction's lock. The heartbeat has its own tests.
JOBS_HEARTBEAT = env.bool("JOBS_HEARTBEAT", default=False)
# A chunked job's helpers (jobs.chunks) go to the broker; a test runs the job's chunks
# in its own process unless it asks for helpers (the real-worker tests do).
JOBS_CHUNK_HELPERS = env.int("JOBS_CHUNK_HELPERS", default=0)
