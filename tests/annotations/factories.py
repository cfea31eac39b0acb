"""Reports, annotators' versions, their mentions and pairs. The default schema
(migration 0003) is always present, so keys are looked up rather than invented.

One Report builder, ReportFactory; its `extract` trait is a report as a site's
extract brings it (dated, titled, with a Korean sentence), which the export and
read-API tests compare against."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import factory
from django.apps import apps

from annotations.models import Assignment, EntityKey, Mention, Modality, Relation, Report
from annotations.services.schema import schema_load, schema_models_from_apps, schema_read
from tests.radreview.factories import UserFactory

# The text of an `extract` report, and what imported_gold marks in it.
CHEST_TEXT = "Small nodule in the RUL. No pleural effusion. 결절 있음."


def modality(code: str) -> Modality:
    """The modality from the default schema, reloading the schema if a
    transactional test flushed the rows the data migration made."""
    found = Modality.objects.filter(code=code).first()
    if found is None:
        schema_load(data=schema_read(), models=schema_models_from_apps(apps))
        found = Modality.objects.get(code=code)
    return found


def entity_key(name: str, modality_code: str = "chest_ct") -> EntityKey:
    modality(modality_code)
    return EntityKey.objects.get(name=name, entity_type__modality__code=modality_code)


def span_of(text: str, quote: str) -> list[int]:
    """[start, end) of the first `quote` in `text`."""
    start = text.index(quote)
    return [start, start + len(quote)]


class ReportFactory(factory.django.DjangoModelFactory[Report]):
    class Meta:
        model = Report

    class Params:
        extract = factory.Trait(
            patient_id="p1",
            study_datetime=datetime(2021, 3, 4, 9, 30, tzinfo=UTC),
            title="CT chest",
            text=CHEST_TEXT,
        )

    source = "test"
    external_id = factory.Sequence(lambda n: f"r{n}")
    patient_id = factory.Sequence(lambda n: f"p{n}")
    modality = factory.LazyFunction(lambda: modality("chest_ct"))
    text = "Small nodule in the RUL. No pleural effusion."
    content_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.text.encode()).hexdigest())


class AssignmentFactory(factory.django.DjangoModelFactory[Assignment]):
    """An annotator's version; `imported=True` makes it imported gold (submitted, by the loader)."""

    class Meta:
        model = Assignment

    class Params:
        imported = factory.Trait(
            kind=Assignment.Kind.IMPORTED,
            status=Assignment.Status.SUBMITTED,
            annotator=factory.SubFactory(UserFactory, username="gold-loader"),
        )

    report = factory.SubFactory(ReportFactory)
    annotator = factory.SubFactory(UserFactory)


class MentionFactory(factory.django.DjangoModelFactory[Mention]):
    class Meta:
        model = Mention

    assignment = factory.SubFactory(AssignmentFactory)
    report = factory.SelfAttribute("assignment.report")
    key = factory.LazyFunction(lambda: entity_key("nodule"))
    start = 6
    end = 12


class RelationFactory(factory.django.DjangoModelFactory[Relation]):
    """A pair of two mentions: its version, report and keys are its mentions', so a
    pair never joins spans of two versions or names a key its spans do not carry.
    By default, "nodule" paired with "RUL" in ReportFactory's default text."""

    class Meta:
        model = Relation

    source_mention = factory.SubFactory(MentionFactory)
    target_mention = factory.SubFactory(
        MentionFactory,
        assignment=factory.SelfAttribute("..source_mention.assignment"),
        key=factory.LazyFunction(lambda: entity_key("right upper lobe")),
        start=20,
        end=23,
    )
    assignment = factory.SelfAttribute("source_mention.assignment")
    report = factory.SelfAttribute("assignment.report")
    source_key = factory.SelfAttribute("source_mention.key")
    target_key = factory.SelfAttribute("target_mention.key")


def imported_gold(report: Report) -> Assignment:
    """Imported gold of a report with CHEST_TEXT's findings: nodule (RUL) paired with
    right upper lobe; pleural effusion negated."""
    assignment = AssignmentFactory.create(
        report=report, imported=True, submitted_at=datetime(2022, 1, 2, tzinfo=UTC)
    )
    nodule, rul, effusion = (span_of(report.text, quote) for quote in ("nodule", "RUL", "pleural effusion"))
    source = MentionFactory(assignment=assignment, key=entity_key("nodule"), start=nodule[0], end=nodule[1])
    target = MentionFactory(
        assignment=assignment, key=entity_key("right upper lobe"), start=rul[0], end=rul[1]
    )
    MentionFactory(
        assignment=assignment,
        key=entity_key("pleural effusion"),
        start=effusion[0],
        end=effusion[1],
        negated=True,
    )
    RelationFactory(source_mention=source, target_mention=target)
    return assignment
