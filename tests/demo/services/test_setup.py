import pytest
from django.core.management import CommandError, call_command

from annotations.models import Assignment, EntityValue, Mention, Report
from radreview import roles


def test_demo_setup_refuses_without_debug(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo_setup", n=40)


def test_demo_setup_loads_users_corpus_gold_and_assignments_once(db, settings, tmp_path, django_user_model):
    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    call_command("demo_setup", n=60, seed=3)
    call_command("demo_setup", n=60, seed=3)  # idempotent

    for name, role, password in (
        ("admin", roles.ADMIN, "admin-demo-pass"),
        ("clinician", roles.CLINICIAN, "clinician-demo-pass"),
    ):
        user = django_user_model.objects.get(username=name)
        assert roles.user_roles(user) == [role]
        assert user.check_password(password)
    assert Report.objects.filter(source="demo").count() == 60
    imported = Assignment.objects.filter(kind=Assignment.Kind.IMPORTED, status=Assignment.Status.SUBMITTED)
    assert imported.count() == 60 - 21
    assert Mention.objects.filter(assignment__in=imported).exists()
    todo = Assignment.objects.filter(kind=Assignment.Kind.ANNOTATION, status=Assignment.Status.TODO)
    assert todo.filter(annotator__username="annotator").count() == 21
    assert todo.filter(annotator__username="annotator2").count() == 6
    # The entity value manager opens with counts, not "not counted".
    assert not EntityValue.objects.filter(report_count=None).exists()
    assert EntityValue.objects.filter(report_count__gt=0).exists()
