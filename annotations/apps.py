from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs: object) -> None:
    # Keep the role groups complete when later migrations add models and permissions.
    # Runs after every app's post_migrate (not only ours): apps listed after
    # annotations (review, analytics) get their permissions created later.
    from django.contrib.auth.models import Group, Permission

    from radreview.roles import sync_role_groups

    sync_role_groups(group_model=Group, permission_model=Permission)


class AnnotationsConfig(AppConfig):
    name = "annotations"
    verbose_name = "Reports and annotations"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, dispatch_uid="annotations.sync_roles")
