"""Append-only records (issue 16; docs/decisions.md "Issue 16: append-only records").

An audit row (a promotion, a review decision) is written once and never changed or
removed, by any code path: the admin hides the buttons, and below it the model
refuses. `AppendOnlyModel.save()` refuses a row that exists, `delete()` refuses
always, and its manager's queryset refuses `update()`, `bulk_update()` and
`delete()` (before any query, so the caller's transaction stays usable). Parents
of these rows point at them with PROTECT, so a cascade never reaches them either.
Raw SQL (and QuerySet._raw_delete) is the one way round this guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn, TypeVar

from django.db import models

_M = TypeVar("_M", bound=models.Model)


class AppendOnlyError(Exception):
    """A write that would change or remove an append-only record."""


def refuse(model: type[models.Model], what: str) -> NoReturn:
    name = model._meta.verbose_name
    raise AppendOnlyError(f"{name} records are append-only: they cannot be {what}.")


class AppendOnlyQuerySet(models.QuerySet[_M]):
    def update(self, **kwargs: Any) -> int:
        refuse(self.model, "updated")

    def bulk_update(self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None) -> int:
        refuse(self.model, "updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        refuse(self.model, "deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            refuse(type(self), "changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        refuse(type(self), "deleted")
