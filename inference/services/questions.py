"""Which questions the combined mode asks the LLM: the site's policy, its measured
help, and an admin's choice.

    question_policy()                                    # QuestionPolicy for a run
    question_rows()                                      # every type, for the admin page
    question_help_record(help=..., gold="all_gold", reports=120)   # a measurement
    question_choose(code="location", asked=True, user=admin)        # an admin's choice
    question_choose(code="location", asked=None, user=admin)        # back to the measurement

The help itself is computed by inference.ml.questions.question_help from an
evaluation of the combined mode (inference.services.evaluation_modes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from inference.ml.questions import (
    DEFAULT_ASKED,
    QUESTION_LABELS,
    QUESTION_TYPES,
    QuestionPolicy,
    type_helps,
)
from inference.models import LLMQuestionType


@dataclass(frozen=True, slots=True)
class QuestionRow:
    code: str
    label: str
    asked: bool
    set_by: str
    set_by_label: str
    measured: dict[str, Any]
    measured_at: Any


def question_policy() -> QuestionPolicy:
    """The question types a combined run asks: the site's rows, the shipped default
    for a type without one."""
    rows = dict(LLMQuestionType.objects.values_list("code", "asked"))
    return QuestionPolicy.of(t for t in QUESTION_TYPES if rows.get(t, t in DEFAULT_ASKED))


def question_rows() -> list[QuestionRow]:
    stored = {row.code: row for row in LLMQuestionType.objects.all()}
    labels = dict(LLMQuestionType.SetBy.choices)
    out = []
    for code in QUESTION_TYPES:
        row = stored.get(code)
        asked = row.asked if row else code in DEFAULT_ASKED
        set_by = row.set_by if row else LLMQuestionType.SetBy.DEFAULT
        out.append(
            QuestionRow(
                code,
                QUESTION_LABELS[code],
                asked,
                set_by,
                labels[set_by],
                dict(row.measured) if row else {},
                row.measured_at if row else None,
            )
        )
    return out


@transaction.atomic
def question_help_record(*, help: Mapping[str, Mapping[str, Any]], gold: str, reports: int) -> list[str]:
    """Store a measurement of the combined mode's questions (per type: asked, answered,
    changed, right, wrong) and, for types no admin has chosen, ask those that helped.
    Types never asked in the measurement keep their setting (nothing was learnt).
    Returns the codes whose setting changed."""
    changed: list[str] = []
    now = timezone.now()
    for code, figures in help.items():
        if code not in QUESTION_TYPES or not int(figures.get("asked", 0)):
            continue
        row, _ = LLMQuestionType.objects.select_for_update().get_or_create(
            code=code, defaults={"asked": code in DEFAULT_ASKED}
        )
        row.measured = {**{k: figures.get(k) for k in _FIGURES}, "gold": gold[:200], "reports": reports}
        row.measured_at = now
        if row.set_by != LLMQuestionType.SetBy.ADMIN:
            helps = type_helps(figures)
            if row.asked != helps:
                changed.append(code)
            row.asked, row.set_by = helps, LLMQuestionType.SetBy.MEASUREMENT
        row.save()
    return changed


_FIGURES = ("asked", "answered", "changed", "right", "wrong", "helps")


@transaction.atomic
def question_choose(*, code: str, asked: bool | None, user: Any) -> LLMQuestionType:
    """An admin asks (True) or stops asking (False) a question type, or hands it back to
    the measurement (None: the last measured verdict, else the shipped default)."""
    if code not in QUESTION_TYPES:
        raise ValueError(f"unknown question type {code!r}")
    row, _ = LLMQuestionType.objects.select_for_update().get_or_create(
        code=code, defaults={"asked": code in DEFAULT_ASKED}
    )
    if asked is None:
        measured = row.measured or {}
        if "right" in measured:
            row.asked = type_helps(measured)
            row.set_by = LLMQuestionType.SetBy.MEASUREMENT
        else:
            row.asked, row.set_by = code in DEFAULT_ASKED, LLMQuestionType.SetBy.DEFAULT
    else:
        row.asked, row.set_by = asked, LLMQuestionType.SetBy.ADMIN
    row.updated_by = user
    row.save()
    return row
