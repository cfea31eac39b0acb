"""OpenAPI schema generation (drf-spectacular) for every API view, including the
plain APIViews that declare no serializer_class.

For such a view the schema is derived from what the code already says:

* request body: the serializer class nested in the view that validates it
  (``PostInput`` / ``PatchInput`` for that method, else ``Input``, else the one
  ``...Input`` class the view has); none for GET and DELETE;
* response: any JSON value (documented as free-form) until the view says more
  with ``@extend_schema(responses=...)``;
* operation ids: ``list`` for a GET on a collection path, so that /things/ and
  /things/{id}/ do not collide.

Views that are GenericAPIViews, have a serializer_class, or are decorated with
``@extend_schema`` get drf-spectacular's own behaviour (the decorator wins).
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
            return OpenApiTypes.ANY
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
