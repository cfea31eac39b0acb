"""What each role's home page links to. Sections appear only for permissions
the user holds; other issues add their links here as their screens land."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.urls import NoReverseMatch, reverse

from radreview import roles

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    help: str

    @property
    def url(self) -> str | None:
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return None


@dataclass(frozen=True)
class Section:
    title: str
    links: tuple[Link, ...]


SECTIONS: tuple[tuple[str, Section], ...] = (
    (
        roles.PERM_ANNOTATE,
        Section(
            "Annotation",
            (Link("My queue", "annotations:queue", "Reports assigned to you for labelling"),),
        ),
    ),
    (
        roles.PERM_REVIEW,
        Section(
            "Clinical review",
            (
                Link(
                    "Review queue",
                    "review:queue",
                    "AI findings waiting for verification, least certain first",
                ),
            ),
        ),
    ),
    (
        roles.PERM_IMPORT,
        Section(
            "Data",
            (
                Link("Import reports", "annotations:import_upload", "Upload CSV, JSONL or OMOP NOTE files"),
                Link(
                    "Import labels",
                    "annotations:label_import_upload",
                    "Labels you already have (gold-file JSONL or 0/1 CSV), stored as gold",
                ),
                Link("Reports", "annotations:report_list", "Browse imported reports"),
                Link("Background jobs", "jobs:job_list", "Imports, training and inference runs"),
                Link("Export", "analytics:export", "Verified findings as JSONL, CSV or OMOP NOTE_NLP"),
            ),
        ),
    ),
    (
        roles.PERM_ASSIGN,
        Section(
            "Annotation work",
            (
                Link("Assign reports", "annotations:assign", "Give annotators reports; order their queues"),
                Link(
                    "Agreement",
                    "annotations:agreement",
                    "Double annotation: kappa, span F1, pairs; adjudicate",
                ),
            ),
        ),
    ),
    (
        roles.PERM_MANAGE_SCHEMA,
        Section(
            "Schema",
            (
                Link(
                    "Entity values", "annotations:values", "Keywords and regexes per key, with match counts"
                ),
                Link("Extraction rules", "annotations:rules", "Negation triggers and location words"),
            ),
        ),
    ),
    (
        roles.PERM_RUN_JOBS,
        Section(
            "Weak labels",
            (
                Link(
                    "Weak labelling",
                    "annotations:weak_labels",
                    "Label unannotated reports; compare modes on gold",
                ),
            ),
        ),
    ),
    (
        roles.PERM_RUN_JOBS,
        Section(
            "Models",
            (
                Link(
                    "Stage 1 models",
                    "inference:model_list",
                    "Train, evaluate, promote and roll back the BERT classifier; run inference",
                ),
                Link(
                    "Stage 2 runs",
                    "inference:stage2_start",
                    "LLM relationship mapping (or the rule baseline) over a cohort; LLM settings",
                ),
            ),
        ),
    ),
    (
        roles.PERM_RUN_JOBS,
        Section(
            "Evaluation and analytics",
            (
                Link(
                    "Evaluations",
                    "analytics:evaluation_list",
                    "Compare BERT, LLM and rules on gold; statistics",
                ),
                Link(
                    "Longitudinal view",
                    "analytics:longitudinal",
                    "Brain MRI episodes per patient; cohort Sankey",
                ),
            ),
        ),
    ),
    (
        roles.PERM_REVIEW,
        Section(
            "How good is the AI",
            (
                Link("Evaluations", "analytics:evaluation_list", "Each method's accuracy on gold reports"),
                Link(
                    "Longitudinal view", "analytics:longitudinal", "Brain MRI episodes per patient over time"
                ),
            ),
        ),
    ),
    (
        roles.PERM_VIEW_REPORTS,
        Section(
            "REST API",
            (Link("API reference", "api_docs", "Every endpoint, with token authentication"),),
        ),
    ),
    (
        roles.PERM_MANAGE_SCHEMA,
        Section(
            "Administration",
            (Link("Site administration", "admin:index", "Users, roles, schema and all records"),),
        ),
    ),
)


def home_sections_for(user: User | AnonymousUser) -> list[dict[str, object]]:
    """Sections the user may see, each with the links whose screens exist."""
    out: list[dict[str, object]] = []
    for perm, section in SECTIONS:
        if not user.has_perm(perm):
            continue
        links = [{"label": ln.label, "url": ln.url, "help": ln.help} for ln in section.links if ln.url]
        if links:
            out.append({"title": section.title, "links": links})
    return out
