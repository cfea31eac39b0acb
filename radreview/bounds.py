"""Whole numbers from requests, bounded to what the database can hold.

Python's int has no limit and Django's `<int:...>` converter matches any run of
digits, but an id of 2**63 or more cannot even be sent to SQLite (OverflowError)
or compared with a bigint column on PostgreSQL (DataError): unchecked, such a
number in a URL, a query or a body was a 500. Ids are bounded to the widest id
column (BigAutoField, DEFAULT_AUTO_FIELD); offsets and counts stored in
PositiveIntegerField columns to PostgreSQL's 32-bit integer.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

ID_MAX = 2**63 - 1  # BigAutoField
INT_MAX = 2**31 - 1  # IntegerField / PositiveIntegerField on PostgreSQL


class IdConverter:
    """`<id:name>` in a URL: an id the database can hold. A longer number matches
    no pattern, so the answer is a 404, as for any id that names nothing."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)  # a ValueError means "no match" to the resolver
        if number > ID_MAX:
            raise ValueError(f"{value} is past the largest id")
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


def bounded_int(raw: Any, *, name: str, minimum: int = 0, maximum: int = ID_MAX) -> int:
    """`raw` as a whole number in [minimum, maximum]; a ValueError that names the
    parameter and the range otherwise (callers answer it with a 400)."""
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number.") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}.")
    return number


class IdField(serializers.IntegerField):
    """An id in an API query or body: below 0 or past ID_MAX it is a 400 naming
    the bound, not a query the database cannot run."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class OffsetField(serializers.IntegerField):
    """A character offset or a version in an API body: within a 32-bit column."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", INT_MAX)
        super().__init__(**kwargs)
