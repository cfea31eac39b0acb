"""Users and their roles, the one place tests make accounts. A role is one of the
groups the migrations create (radreview.roles), given by name."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User

# Every factory user's password: the login tests and the browser tests type it.
PASSWORD = "pw-for-tests-1"


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `role="clinician"` (or annotator, admin) also puts them in that role's group."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(user: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        # factory_boy passes the built user, not the factory, as the first argument.
        if extracted:
            user.groups.add(Group.objects.get(name=extracted))
