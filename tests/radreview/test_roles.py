"""The three roles: each group holds exactly its permissions (radreview.roles)."""

import pytest

from radreview import roles


@pytest.mark.parametrize(
    ("fixture", "expected_roles"),
    [("annotator", ["annotator"]), ("clinician", ["clinician"]), ("admin_user", ["admin"])],
)
def test_each_role_gets_exactly_its_permissions(db, request, fixture, expected_roles):
    user = request.getfixturevalue(fixture)
    assert roles.user_roles(user) == expected_roles
    assert user.has_perm(roles.PERM_ANNOTATE) == (fixture == "annotator")
    assert user.has_perm(roles.PERM_REVIEW) == (fixture == "clinician")
    for admin_perm in (roles.PERM_IMPORT, roles.PERM_RUN_JOBS, roles.PERM_PROMOTE, roles.PERM_MANAGE_SCHEMA):
        assert user.has_perm(admin_perm) == (fixture == "admin_user")
