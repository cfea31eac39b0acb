"""factory_boy factories. The default schema (migration 0003) is always present,
so key factories look keys up rather than invent them."""

import hashlib

import factory
from django.contrib.auth import get_user_model

from annotations.models import Assignment, EntityKey, Mention, Modality, Report
from jobs.models import Job


def modality(code: str) -> Modality:
    """The modality from the default schema, reloading the schema if a
    transactional test flushed the rows the data migration made."""
    found = Modality.objects.filter(code=code).first()
    if found is None:
        from django.apps import apps

        from annotations.services.schema import schema_load, schema_models_from_apps, schema_read

        schema_load(data=schema_read(), models=schema_models_from_apps(apps))
        found = Modality.objects.get(code=code)
    return found


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    source = "test"
    external_id = factory.Sequence(lambda n: f"r{n}")
    patient_id = factory.Sequence(lambda n: f"p{n}")
    modality = factory.LazyFunction(lambda: modality("chest_ct"))
    text = "Small nodule in the RUL. No pleural effusion."
    content_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.text.encode()).hexdigest())


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    report = factory.SubFactory(ReportFactory)
    annotator = factory.SubFactory(UserFactory)


def entity_key(name: str, modality_code: str = "chest_ct") -> EntityKey:
    modality(modality_code)
    return EntityKey.objects.get(name=name, entity_type__modality__code=modality_code)


class MentionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mention

    assignment = factory.SubFactory(AssignmentFactory)
    report = factory.SelfAttribute("assignment.report")
    key = factory.LazyFunction(lambda: entity_key("nodule"))
    start = 6
    end = 12


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = Job.Kind.OTHER
    title = "test job"
