"""API policies that settings.REST_FRAMEWORK names: permissions, throttling, pagination, the one error format.

Kept apart from api_views.py because DRF imports these while rest_framework.views is still loading.
"""

import logging
import time

import django_filters
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import authentication, exceptions, parsers, serializers, status
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from smscampaigns.client_address import client_address
from smscampaigns.errors import ApplicationError, request_limit_refusal
from smscampaigns.json_limits import TOO_DEEP, json_depth_exceeds

logger = logging.getLogger(__name__)

# ApplicationError codes that mean "the resource is in the wrong state for this", not "your input is wrong".
CONFLICT_CODES = frozenset(
    {"illegal_transition", "not_editable", "idempotency_key_reused", "opted_out_by_person", "in_use"}
)
# ApplicationError codes that mean "the request is larger than this service takes" (an upload over its cap).
TOO_LARGE_CODES = frozenset({"too_large"})


class ApiErrorSerializer(serializers.Serializer):
    """Every error answer: a sentence for people, and the messages per input field for programs."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field": [...], "lists.2": [...]}, so that every error has a path."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(errors, list) and errors and all(not isinstance(e, (dict, list)) for e in errors):
        return {prefix or "non_field_errors": [str(e) for e in errors]}
    if isinstance(errors, list):
        flat = {}
        for index, value in enumerate(errors):
            if value:  # DRF puts {} for the valid items of a list
                flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(errors)]}


def _summary(errors: dict[str, list[str]]) -> str:
    first_field, messages = next(iter(errors.items()))
    where = "" if first_field == "non_field_errors" else f"{first_field}: "
    more = f" (and {len(errors) - 1} more field(s))" if len(errors) > 1 else ""
    return f"Invalid input. {where}{messages[0]}{more}"


def exception_handler(exc, context):
    """Answer every error as {"detail": ..., "errors": {field: [...]}}; never a stack trace."""
    if isinstance(exc, ApplicationError):
        code = status.HTTP_409_CONFLICT if exc.code in CONFLICT_CODES else status.HTTP_400_BAD_REQUEST
        if exc.code in TOO_LARGE_CODES:
            code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        errors = exc.errors or ({exc.field: [exc.message]} if exc.field else {})
        return Response({"detail": exc.message, "errors": errors}, status=code)
    if refusal := request_limit_refusal(exc):
        code, detail = refusal
        logger.warning("API request refused", extra={"reason": detail, "path": context["request"].path})
        return Response({"detail": detail, "errors": {}}, status=code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        # A bug, not bad input: log it whole, answer without the details.
        logger.error("API request failed", exc_info=exc, extra={"view": type(context.get("view")).__name__})
        return Response(
            {"detail": "Internal server error; it has been logged.", "errors": {}},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait) + (exc.wait % 1 > 0))
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail) or {"non_field_errors": ["invalid input"]}
        body = {"detail": _summary(errors), "errors": errors}
    else:
        body = {"detail": str(exc.detail), "errors": {}}
    return Response(body, status=exc.status_code, headers=headers)


# The largest id a BigAutoField holds; a larger one is refused as input before any query can overflow.
MAX_ID = 2**63 - 1


class IdFilter(django_filters.NumberFilter):
    """An object's id as a query parameter: a whole number from 1 to MAX_ID, else a 400 naming the parameter.
    Unbounded, -6.9e117 reached the query and overflowed SQLite's integers: a 500."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=MAX_ID, decimal_places=0, **kwargs)


class StrictCharField(serializers.CharField):
    """Text input that refuses numbers and booleans instead of quietly turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer input that refuses "5", 5.0 and true: the schema says integer, so does the check."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A boolean input that refuses "true", 1 and "yes": the schema says boolean, so does the check."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


def ids_field(queryset, **kwargs) -> serializers.ListField:
    """A list of ids of `queryset` rows; refuses an object where DRF's many=True would take it as no ids."""
    return serializers.ListField(child=StrictPrimaryKeyRelatedField(queryset=queryset), **kwargs)


class StrictFilterSet(django_filters.FilterSet):
    """A filter given empty (?status=) is an error rather than silently no filter; only text search may be empty."""

    def is_valid(self):
        valid = super().is_valid()
        for name, declared in self.filters.items():
            if not isinstance(declared, django_filters.CharFilter) and self.data.get(name) == "":
                self.form.add_error(name, "must not be empty; leave the parameter out to not filter by it")
                valid = False
        return valid


class ModelPermissions(DjangoModelPermissions):
    """Django model permissions, reading included; a view that does more than CRUD names its own.

    `required_permissions` on a view (e.g. change + send_campaign for send/) replaces the per-method map.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not hasattr(view, request.method.lower()):
            # A method the endpoint does not have is 405 for everyone, not 403 for those who lack "add".
            raise exceptions.MethodNotAllowed(request.method)
        required = getattr(view, "required_permissions", None)
        if required is None:
            return super().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated and request.user.has_perms(required))


class UserThrottle(UserRateThrottle):
    """Per-user request rate (per client address before login), read from API_THROTTLE_RATE at request time."""

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_ident(self, request):
        return client_address(request)

    def allow_request(self, request, view):
        # The rate is re-read per request so that operators (and tests) can change it without a restart.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class StrictPageSize:
    """page_size must be a whole number from 1 to max_page_size: 400 otherwise, rather than quietly ignored."""

    page_size_query_param = "page_size"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"must be a whole number from 1 to {self.max_page_size}"]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            if parameter["name"] == getattr(self, "page_query_param", None):
                parameter["schema"]["minimum"] = 1
        return parameters


class PagePagination(StrictPageSize, PageNumberPagination):
    page_size = 50
    max_page_size = 500
    last_page_strings = ()  # the schema says page is an integer; "last" would be an undocumented exception

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "1")
        if not raw.isdigit() or int(raw) < 1:
            raise exceptions.ValidationError({self.page_query_param: ["must be a whole number from 1"]})
        return raw


class IdCursorPagination(StrictPageSize, CursorPagination):
    """Stable pages over tables that grow while being read (a campaign's sends), in id order."""

    ordering = "id"
    page_size = 100
    max_page_size = 1000


class ApiMetadata(SimpleMetadata):
    """OPTIONS answers name, description and media types; the request bodies are in /api/schema/."""

    def determine_actions(self, request, view):
        return {}


def _parse_rate(rate: str) -> tuple[int, int]:
    """'10/minute' as (10, 60): the format of the throttle rates, checked when settings load."""
    count, period = rate.split("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


class TokenAuthentication(authentication.TokenAuthentication):
    """Token authentication that counts wrong tokens per client address: past API_AUTH_FAILURE_RATE, 429.

    Throttles run after authentication, so a wrong token (a 401) never met one: guesses were unlimited. While
    an address is over the rate every token it presents is refused, the right one too, or a guesser would
    learn which guess was right; requests without a token (a session) are not affected.
    """

    cache_prefix = "api-auth-failures"

    def authenticate(self, request):
        presented = authentication.get_authorization_header(request).split()
        if not presented or presented[0].lower() != self.keyword.lower().encode():
            return None
        limit, duration = _parse_rate(settings.API_AUTH_FAILURE_RATE)
        key, wait = self._failures_key(client_address(request), duration)
        if (cache.get(key) or 0) >= limit:
            raise exceptions.Throttled(wait=wait, detail="Too many failed authentication attempts from this address.")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            self._failure_record(key, wait)
            raise

    def _failures_key(self, address: str, duration: int) -> tuple[str, float]:
        """The cache key counting this address's failures in the current window, and the seconds it has left."""
        now = time.time()
        window = int(now // duration)
        return f"{self.cache_prefix}:{address}:{duration}:{window}", (window + 1) * duration - now

    @staticmethod
    def _failure_record(key: str, wait: float) -> None:
        # add + incr is atomic on Redis: concurrent guesses are all counted.
        cache.add(key, 0, timeout=int(wait) + 1)
        try:
            cache.incr(key)
        except ValueError:  # expired between the two calls: a new window begins with this failure
            cache.set(key, 1, timeout=int(wait) + 1)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser that answers JSON nested too deeply with a 400 instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = exceptions.ParseError(f"JSON parse error - {TOO_DEEP}")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(data):
            raise too_deep
        return data
