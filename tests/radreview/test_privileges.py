"""Privilege changes in Django admin are bounded and audited, and superuser status
does not stand in for the clinician role when deciding findings (issue 17)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.test import APIClient

from radreview import roles
from radreview.models import SecurityEvent
from radreview.records import AppendOnlyError
from review.models import ReviewDecision
from review.services import finding_decide, sync_report_findings
from tests.radreview.factories import UserFactory
from tests.review.factories import chest_report_with_predictions

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _url(user):
    return f"/admin/auth/user/{user.pk}/change/"


def _form(user, **changes):
    """The user change form as the browser posts it, with `changes` applied."""
    data = {
        "username": user.username,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
    }
    if user.is_staff:
        data["is_staff"] = "on"
    if user.is_superuser:
        data["is_superuser"] = "on"
    data.update(changes)
    return data


def _group(name):
    return Group.objects.get(name=name).pk


def _post(client, actor, target, **changes):
    client.force_login(actor)
    return client.post(_url(target), _form(target, **changes))


def test_an_admin_cannot_make_themselves_superuser(client, admin_user):
    response = _post(client, admin_user, admin_user, is_superuser="on")
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert not SecurityEvent.objects.exists()


def test_an_admin_cannot_give_themselves_a_role_or_a_permission(client, admin_user):
    review = Permission.objects.get(codename="review_findings")
    _post(
        client,
        admin_user,
        admin_user,
        groups=[_group("admin"), _group("clinician")],
        user_permissions=[review.pk],
    )
    assert list(admin_user.groups.values_list("name", flat=True)) == ["admin"]
    assert not admin_user.user_permissions.exists()


def test_a_superuser_cannot_remove_their_own_superuser_or_staff_status(client, root):
    _post(client, root, root, is_superuser="", is_staff="")
    root.refresh_from_db()
    assert root.is_superuser and root.is_staff


def test_an_admin_cannot_grant_superuser_to_someone_else(client, admin_user, clinician):
    _post(client, admin_user, clinician, is_superuser="on")
    clinician.refresh_from_db()
    assert not clinician.is_superuser


def test_an_admin_gives_a_role_to_someone_else_and_it_is_audited(client, admin_user, annotator):
    response = _post(client, admin_user, annotator, groups=[_group("annotator"), _group("clinician")])
    assert response.status_code == 302
    assert set(annotator.groups.values_list("name", flat=True)) == {"annotator", "clinician"}
    row = SecurityEvent.objects.get()
    assert (row.kind, row.actor, row.target_user, row.field) == ("privilege", admin_user, annotator, "groups")
    assert (row.before, row.after) == (["annotator"], ["annotator", "clinician"])


def test_a_superuser_grants_superuser_and_it_is_audited(client, root, admin_user):
    _post(client, root, admin_user, is_superuser="on")
    admin_user.refresh_from_db()
    assert admin_user.is_superuser
    row = SecurityEvent.objects.get()
    assert (row.actor, row.target_user, row.field, row.before, row.after) == (
        root,
        admin_user,
        "is_superuser",
        False,
        True,
    )


def test_an_admin_cannot_edit_a_superusers_account_or_password(client, admin_user, root):
    client.force_login(admin_user)
    assert client.post(_url(root), _form(root, is_staff="")).status_code == 403
    password = f"/admin/auth/user/{root.pk}/password/"
    assert (
        client.post(password, {"password1": "x-Long-pass-1", "password2": "x-Long-pass-1"}).status_code == 403
    )
    root.refresh_from_db()
    assert root.is_staff and root.check_password("pw-for-tests-1")


def test_only_superusers_change_a_groups_permissions_and_it_is_audited(client, admin_user, root):
    group = Group.objects.create(name="auditors")
    perm = Permission.objects.get(codename="view_reviewdecision")
    url = f"/admin/auth/group/{group.pk}/change/"
    client.force_login(admin_user)
    assert client.post(url, {"name": "auditors", "permissions": [perm.pk]}).status_code == 403
    client.force_login(root)
    assert client.post(url, {"name": "auditors", "permissions": [perm.pk]}).status_code == 302
    row = SecurityEvent.objects.get()
    assert (row.actor, row.target_group, row.field) == (root, group, "permissions")
    assert (row.before, row.after) == ([], ["review.view_reviewdecision"])


def test_a_superuser_cannot_change_the_permissions_of_a_group_they_are_in(client, root):
    group = Group.objects.get(name="clinician")
    root.groups.add(group)
    before = set(group.permissions.all())
    extra = Permission.objects.get(codename="run_jobs")
    client.force_login(root)
    client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "clinician", "permissions": [extra.pk]})
    assert set(group.permissions.all()) == before


def test_the_security_audit_is_append_only(client, admin_user, annotator, root):
    _post(client, admin_user, annotator, groups=[_group("clinician")])
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.update(field="x")
    with pytest.raises(AppendOnlyError):
        SecurityEvent.objects.get().delete()
    client.force_login(root)
    row = SecurityEvent.objects.get()
    assert client.post(f"/admin/radreview/securityevent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/radreview/securityevent/").status_code == 200


# --- deciding stays a clinician's act ----------------------------------------------


@pytest.fixture
def review():
    return sync_report_findings(chest_report_with_predictions(external_id="priv-1"))


def test_superuser_status_alone_does_not_decide_findings(client, root, review):
    nodule = review.findings.get(key="nodule", superseded=False)
    with pytest.raises(PermissionDenied):
        finding_decide(finding_id=nodule.pk, user=root, action="approve", version=1)
    client.force_login(root)
    decide = reverse("review:decide", args=[review.report_id, nodule.pk])
    assert client.post(decide, {"action": "approve", "version": 1}).status_code == 403
    assert client.get(reverse("review:queue")).status_code == 403
    api = APIClient()
    api.force_authenticate(root)
    url = f"/api/review/findings/{nodule.pk}/decision/"
    assert api.post(url, {"action": "approve", "version": 1}, format="json").status_code == 403
    assert not ReviewDecision.objects.exists()


def test_a_superuser_in_the_clinician_group_decides(root, review):
    root.groups.add(Group.objects.get(name=roles.CLINICIAN))
    nodule = review.findings.get(key="nodule", superseded=False)
    finding_decide(finding_id=nodule.pk, user=root, action="approve", version=1)
    assert ReviewDecision.objects.get().user == root


def test_has_role_perm_ignores_superuser_status_and_keeps_direct_grants(root, clinician, admin_user):
    assert root.has_perm(roles.PERM_REVIEW) and not roles.has_role_perm(root, roles.PERM_REVIEW)
    assert roles.has_role_perm(clinician, roles.PERM_REVIEW)
    assert not roles.has_role_perm(admin_user, roles.PERM_REVIEW)
    root.user_permissions.add(Permission.objects.get(codename="review_findings"))
    assert roles.has_role_perm(root, roles.PERM_REVIEW)
