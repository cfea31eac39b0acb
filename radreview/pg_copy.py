"""Rows into a table with PostgreSQL's COPY (psycopg 3's cursor.copy), for the bulk
writes of the cohort stages: on a machine where the database shares the cores with
the workers, every CPU-second the server spends parsing an INSERT is one the workers
lose. COPY skips the statement's planning and the per-column arrays of bulk_create's
INSERT .. SELECT FROM UNNEST, and the worker skips building model instances' SQL.

Other databases (SQLite in the tests and the small installations) get bulk_create:
the caller passes both forms. No row goes through the model's save() or signals, as
with bulk_create; defaults are not filled in, so every column without a database
default must be named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connections, models, router

_M = TypeVar("_M", bound=models.Model)


def rows_insert(
    model: type[_M],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    objects: Callable[[], Sequence[_M]],
    batch_size: int = 2000,
) -> None:
    """Insert `rows` (values of `fields`, in that order, as the column's database value:
    a JSON field's as JSON text) into `model`'s table: COPY on PostgreSQL, else
    bulk_create of `objects()` (the same rows as instances)."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects(), batch_size=batch_size)
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(model, name)) for name in fields)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column
