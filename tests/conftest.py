import pytest
from django.contrib.auth.models import Group

from annotations import selectors
from radreview import roles
from tests.factories import UserFactory, modality


@pytest.fixture(autouse=True)
def _site_rules_forgotten():  # type: ignore[no-untyped-def]
    """The site's cached rules follow the rules' version, which only moves forward
    in one database; a test database rolled back between tests repeats versions."""
    selectors.site_rules_forget()


def _user_with_role(role: str, username: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def annotator(db):  # type: ignore[no-untyped-def]
    return _user_with_role(roles.ANNOTATOR, "ann")


@pytest.fixture
def clinician(db):  # type: ignore[no-untyped-def]
    return _user_with_role(roles.CLINICIAN, "clin")


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    user = _user_with_role(roles.ADMIN, "boss")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def chest_ct(db):  # type: ignore[no-untyped-def]
    return modality("chest_ct")


@pytest.fixture
def brain_mri(db):  # type: ignore[no-untyped-def]
    return modality("brain_mri")
