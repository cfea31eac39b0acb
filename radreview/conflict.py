"""A service's refusal that is about the data's current state, not the input.

Services raise django's ValidationError for both; the code CONFLICT marks the
second kind (nothing matched yet, a duplicate, a precondition such as "two
submitted annotations"): the request is well formed, and the API answers 409
instead of 400 (annotations.api.common.service_call). Screens show both alike.
docs/decisions.md, "Issue 17: the OpenAPI schema".
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

CONFLICT = "conflict"


def is_conflict(exc: ValidationError) -> bool:
    """Whether every error in `exc` carries the CONFLICT code."""
    if hasattr(exc, "error_dict"):
        errors = [e for field_errors in exc.error_dict.values() for e in field_errors]
    else:
        errors = exc.error_list
    return bool(errors) and all(e.code == CONFLICT for e in errors)
