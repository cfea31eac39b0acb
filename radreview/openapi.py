"""OpenAPI schema generation (drf-spectacular) for every API view, including the
plain APIViews that declare no serializer_class.

For such a view the schema is derived from what the code already says:

* request body: the serializer class nested in the view that validates it
  (``PostInput`` / ``PatchInput`` for that method, else ``Input``, else the one
  ``...Input`` class the view has); none for GET and DELETE;
* response: a JSON object until the view says more with
  ``@extend_schema(responses=...)`` (every API view does; the shapes modules);
* operation ids: ``list`` for a GET on a collection path, so that /things/ and
  /things/{id}/ do not collide.

Views that are GenericAPIViews, have a serializer_class, or are decorated with
``@extend_schema`` get drf-spectacular's own behaviour (the decorator wins).

``postprocess_error_responses`` (a postprocessing hook) adds the error responses
every operation can give; docs/decisions.md, "Issue 17: the OpenAPI schema".
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers
from rest_framework.generics import GenericAPIView

BODY_METHODS = ("POST", "PUT", "PATCH")


def _is_serializer_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, serializers.BaseSerializer)


class AutoSchema(SpectacularAutoSchema):
    def _plain_view(self) -> bool:
        view = self.view
        if isinstance(view, GenericAPIView):
            return False
        return not (
            callable(getattr(view, "get_serializer", None))
            or callable(getattr(view, "get_serializer_class", None))
            or hasattr(view, "serializer_class")
        )

    def _input_serializer(self) -> type[serializers.BaseSerializer] | None:
        view_class = type(self.view)
        for name in (f"{self.method.capitalize()}Input", "Input"):
            candidate = getattr(view_class, name, None)
            if _is_serializer_class(candidate):
                return candidate
        inputs = [
            value
            for klass in view_class.__mro__
            for name, value in vars(klass).items()
            if name.endswith("Input") and _is_serializer_class(value)
        ]
        return inputs[0] if len(inputs) == 1 else None

    def get_request_serializer(self) -> Any:
        if self._plain_view():
            return self._input_serializer() if self.method in BODY_METHODS else None
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        if self._plain_view():
            return OpenApiTypes.OBJECT
        return super().get_response_serializers()

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        collection = not self.path.rstrip("/").endswith("}")
        if self.method == "GET" and collection and operation_id.endswith("_retrieve") and self._plain_view():
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _get_serializer_name(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> str:
        """Serializers nested in a view ("Input") are named after the view too,
        so that two views' "Input" classes are two components, not a clash."""
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        klass = serializer if isinstance(serializer, type) else type(serializer)
        outer = klass.__qualname__.split(".")
        if len(outer) > 1 and "<locals>" not in outer and outer[-1] in name:
            return name.replace(outer[-1], "".join(outer), 1)
        return name


# -- responses every operation can give ----------------------------------------------------

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
ERROR_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "description": "DRF's error body: one message.",
}
VALIDATION_ERROR = {
    "type": "object",
    "additionalProperties": {},
    "description": (
        "Field name (or `detail` / `non_field_errors`) to its messages; nested inputs nest the same way."
    ),
}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _error_responses(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The errors DRF and the middleware give on any operation, by what the operation takes."""
    locations = {parameter.get("in") for parameter in operation.get("parameters", [])}
    takes_input = "requestBody" in operation or "query" in locations
    responses: dict[str, dict[str, Any]] = {}
    if takes_input:
        responses["400"] = {
            "description": "Invalid input (or a NUL character anywhere in it).",
            "content": _json("ValidationError"),
        }
    responses["401"] = {
        "description": "Not signed in: no session and no valid token.",
        "content": _json("ErrorDetail"),
    }
    responses["403"] = {
        "description": "Signed in without the permission this operation needs.",
        "content": _json("ErrorDetail"),
    }
    if takes_input or "path" in locations:
        # A URL no pattern matches (an id past the largest) gets the site's HTML 404 page.
        responses["404"] = {
            "description": "No such object (or page of results).",
            "content": {**_json("ErrorDetail"), "text/html": {"schema": {"type": "string"}}},
        }
    responses["429"] = {
        "description": "Too many requests: throttled; retry after the Retry-After header.",
        "content": _json("ErrorDetail"),
    }
    return responses


def _bounded_path_ids(operation: dict[str, Any]) -> None:
    """`<id:...>` path segments are documented as the whole numbers they are (radreview.bounds)."""
    from radreview.bounds import ID_MAX

    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") == "path" and schema.get("pattern") == "^[0-9]+$":
            parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": ID_MAX}


def _no_private_query(method: str, operation: dict[str, Any]) -> None:
    """A GET naming a patient is refused (radreview.private_query): its filters
    take no patient in the query; the POST twin takes it in the body."""
    from radreview.private_query import PRIVATE

    if method == "get" and "parameters" in operation:
        operation["parameters"] = [
            p for p in operation["parameters"] if not (p.get("in") == "query" and p.get("name") in PRIVATE)
        ]


def postprocess_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents the error
    responses it can give (an operation's own declaration of a code wins)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", ERROR_DETAIL)
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    for item in result.get("paths", {}).values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            _bounded_path_ids(operation)
            _no_private_query(method, operation)
            responses = operation.setdefault("responses", {})
            for code, response in _error_responses(operation).items():
                responses.setdefault(code, response)
    return result
