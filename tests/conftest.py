"""Fixtures every folder of the suite uses: the three roles' users, the two
modalities, a real Celery worker, and ROOT (the repository) for tests that read its files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from hypothesis import settings

from annotations import selectors
from annotations.models import Modality
from radreview import roles
from tests.annotations.factories import modality
from tests.radreview.factories import UserFactory
from tests.worker import Worker, worker_running

ROOT = Path(__file__).resolve().parent.parent

# Property tests check behaviour, not speed (bench/ measures speed): on a 2-core machine
# shared with a training run, one example can take longer than hypothesis's default
# 200 ms deadline and fail a correct test as "flaky".
settings.register_profile("radreview", deadline=None)
settings.load_profile("radreview")


@pytest.fixture(autouse=True)
def _site_rules_forgotten():
    """The site's cached rules follow the rules' version, which only moves forward
    in one database; a test database rolled back between tests repeats versions."""
    selectors.site_rules_forget()


@pytest.fixture(autouse=True)
def _throttle_counts_forgotten():
    """The API's throttle counts live in the (process-local) cache, which outlives a
    test's database: one test's requests must not count against the next."""
    cache.clear()


@pytest.fixture
def annotator(db):
    return UserFactory(username="ann", role=roles.ANNOTATOR)


@pytest.fixture
def clinician(db):
    return UserFactory(username="clin", role=roles.CLINICIAN)


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="boss", role=roles.ADMIN)
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def chest_ct(db) -> Modality:
    return modality("chest_ct")


@pytest.fixture
def brain_mri(db) -> Modality:
    return modality("brain_mri")


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory) -> Iterator[Worker]:
    """One real Celery worker for the whole test module (tests/worker.py)."""
    with worker_running(root=ROOT, log_dir=tmp_path_factory.mktemp("celery")) as running:
        yield running
