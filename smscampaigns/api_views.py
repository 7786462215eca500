"""The base of every API view, and the schema generator that documents the shared errors on each operation."""

from drf_spectacular.openapi import AutoSchema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from smscampaigns.api import ApiErrorSerializer


class ApiView(GenericAPIView):
    """Base of every API view: one operation per class, with its own input and output serializers."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Every documented query parameter takes one value; given twice, which one counts would be a guess.
        repeated = [name for name, values in request.query_params.lists() if len(values) > 1]
        if repeated:
            raise ValidationError({name: ["given more than once; give one value"] for name in repeated})

    def paginated_response(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(
            serializer_class(page, many=True, context=self.get_serializer_context()).data
        )

    @staticmethod
    def validated(serializer_class, data, **kwargs) -> dict:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ApiAutoSchema(AutoSchema):
    """Documents on every API operation the errors it can answer, all in the one error format."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/v"):
            return operation
        error = {
            "content": {"application/json": {"schema": self.resolve_serializer(ApiErrorSerializer, "response").ref}}
        }
        codes = {
            "401": "Not authenticated",
            "403": "Not allowed: a permission is missing",
            "429": "Too many requests; see Retry-After",
        }
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            codes["400"] = "Invalid input; `errors` names each field at fault"
        if "{" in path:
            codes["404"] = "No such object"
        elif self._is_list_view() and self._get_paginator():
            codes["404"] = "No such page (page number out of range, or an invalid cursor)"
        responses = operation["responses"]
        for code, description in codes.items():
            responses.setdefault(code, {**error, "description": description})
        responses["429"]["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"}
        }
        return operation
