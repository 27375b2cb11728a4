"""RFC 9457 problem details: every error Kairos returns is ``application/problem+json``.

Each problem has a stable ``type`` URI (``urn:kairos:problem:<slug>``) and ``title``; clients
branch on ``type``, people read ``detail``. Validation problems list the offending fields
(``errors[].field``, a dotted path such as ``geometry.coordinates[0]``).
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
from litestar import Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_409_CONFLICT,
    HTTP_412_PRECONDITION_FAILED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_428_PRECONDITION_REQUIRED,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

if TYPE_CHECKING:
    from litestar import Request

__all__ = [
    "PROBLEM_JSON",
    "ConflictProblem",
    "FieldError",
    "GoneProblem",
    "NotFoundProblem",
    "PreconditionFailedProblem",
    "Problem",
    "ProblemError",
    "ValidationProblem",
    "exception_handlers",
    "field_from_message",
    "problem_responses",
]

log = logging.getLogger("kairos.http")

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct, kw_only=True, frozen=True):
    """One invalid input.

    Attributes:
        field: Dotted path to the value, e.g. ``events[3].lat`` or ``opening_hours``.
        message: What is wrong with it, in words a person can act on.
    """

    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


def _type_uri(slug: str) -> str:
    return f"urn:kairos:problem:{slug}"


class ProblemError(Exception):
    """Raise to answer with a problem document.

    Args:
        status: HTTP status.
        slug: Stable machine name; becomes ``urn:kairos:problem:<slug>``.
        title: Short, stable summary of the problem type.
        detail: What happened this time.
        errors: Offending fields, for validation problems.
        headers: Extra response headers.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=_type_uri(self.slug),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


class ValidationProblem(ProblemError):
    """422: the request is well-formed JSON but some fields are invalid."""

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        if detail is None:
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        super().__init__(
            HTTP_422_UNPROCESSABLE_ENTITY,
            "validation-error",
            "Request validation failed",
            detail,
            errors=errors,
        )

    @classmethod
    def single(cls, field: str, message: str) -> ValidationProblem:
        return cls([FieldError(field=field, message=message)])


class NotFoundProblem(ProblemError):
    """404: no such resource, or none the caller may see (ids never leak through 403)."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(
            HTTP_404_NOT_FOUND, "not-found", "Resource not found", f"{what} {ident!r} not found"
        )


class ConflictProblem(ProblemError):
    """409: the request conflicts with the current state (e.g. a reused idempotency key)."""

    def __init__(self, detail: str, slug: str = "conflict") -> None:
        super().__init__(HTTP_409_CONFLICT, slug, "Conflict with the current state", detail)


class GoneProblem(ProblemError):
    """410: the resource existed and was erased for good (a data-subject request)."""

    def __init__(self, detail: str, slug: str = "gone") -> None:
        super().__init__(410, slug, "Gone for good", detail)


class PreconditionFailedProblem(ProblemError):
    """412: ``If-Match`` names a version that is no longer current."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            HTTP_412_PRECONDITION_FAILED, "precondition-failed", "Precondition failed", detail
        )


_STANDARD: dict[int, tuple[str, str]] = {
    HTTP_400_BAD_REQUEST: ("bad-request", "Bad request"),
    HTTP_401_UNAUTHORIZED: ("unauthorized", "Authentication required"),
    HTTP_403_FORBIDDEN: ("forbidden", "Not allowed for this role"),
    HTTP_404_NOT_FOUND: ("not-found", "Resource not found"),
    HTTP_405_METHOD_NOT_ALLOWED: ("method-not-allowed", "Method not allowed"),
    HTTP_409_CONFLICT: ("conflict", "Conflict with the current state"),
    410: ("gone", "Gone for good"),
    HTTP_412_PRECONDITION_FAILED: ("precondition-failed", "Precondition failed"),
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: ("payload-too-large", "Request body too large"),
    HTTP_422_UNPROCESSABLE_ENTITY: ("validation-error", "Request validation failed"),
    HTTP_428_PRECONDITION_REQUIRED: ("precondition-required", "Precondition required"),
    HTTP_500_INTERNAL_SERVER_ERROR: ("internal-error", "Internal server error"),
    HTTP_503_SERVICE_UNAVAILABLE: ("unavailable", "Service unavailable"),
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _standard(status: int) -> tuple[str, str]:
    return _STANDARD.get(status, ("http-error", "HTTP error"))


def _respond(problem: Problem, headers: dict[str, str] | None = None) -> Response[Problem]:
    return Response(
        content=problem, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


# msgspec/Litestar messages end with "- at `$.events[3].lat`"; the path is what clients need.
_AT_PATH = re.compile(r"\s*-\s*at\s*`\$(?P<path>[^`]*)`\s*$")


_NAMED_FIELD = re.compile(r"(?:unknown|missing required|invalid) field `(?P<name>[^`]+)`(?::\s*)?")


def field_from_message(message: str, key: str | None) -> tuple[str, str]:
    """Split msgspec's message into (field path, reason)."""
    path = ""
    match = _AT_PATH.search(message)
    if match:
        path = match.group("path").lstrip(".")
        message = message[: match.start()].strip()
    named = _NAMED_FIELD.search(message)
    if named:
        # "Object missing required field `name`": the field is the object's member.
        path = f"{path}.{named.group('name')}" if path else named.group("name")
        if message.startswith("invalid field"):
            # Raised by our own __post_init__ checks: the rest of the text is the reason.
            message = message[named.end() :].strip() or message
    if not path:
        path = key if key and key != "data" else "body"
    return path, message


def _is_malformed_body(messages: list[Any]) -> bool:
    for item in messages:
        text = str(item.get("message", "")) if isinstance(item, dict) else str(item)
        if "JSON is malformed" in text or "Input data was truncated" in text:
            return True
    return False


def _malformed(request: Request[Any, Any, Any]) -> Response[Problem]:
    return _respond(
        Problem(
            type=_type_uri("malformed-json"),
            title="Malformed JSON body",
            status=HTTP_400_BAD_REQUEST,
            detail="The request body is not valid JSON.",
            instance=request.url.path,
        )
    )


def _validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Problem]:
    """Litestar's own 400s: malformed bodies stay 400, schema errors become 422 with fields."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    detail = exc.detail if isinstance(exc.detail, str) else None
    if _is_malformed_body(extra) or (detail and "malformed" in detail.lower()):
        return _malformed(request)
    errors: list[FieldError] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        # Litestar reports the source as a str-valued enum (ParamType.PATH): use its value.
        source = getattr(item.get("source"), "value", item.get("source"))
        key = item.get("key")
        field, message = field_from_message(str(item.get("message", "")), key)
        if source in ("query", "path", "header", "cookie") and key:
            field = f"{source}.{key}" if source != "query" else key
        errors.append(FieldError(field=field, message=message))
    if not errors:
        errors = [FieldError(field="body", message=detail or "invalid request")]
    return _respond(
        Problem(
            type=_type_uri("validation-error"),
            title="Request validation failed",
            status=HTTP_422_UNPROCESSABLE_ENTITY,
            detail="; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
            instance=request.url.path,
            errors=errors,
        )
    )


def _problem_handler(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Problem]:
    return _respond(exc.to_problem(request.url.path), exc.headers)


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if exc.status_code == HTTP_400_BAD_REQUEST and (
        isinstance(exc.__cause__, msgspec.DecodeError)
        or _is_malformed_body([{"message": exc.detail}])
    ):
        return _malformed(request)
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        # A 5xx from the framework is our misconfiguration: its text is for the log only.
        return _internal_handler(request, exc)
    slug, title = _standard(exc.status_code)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail is not None and detail.lower() in {title.lower(), _phrase(exc.status_code).lower()}:
        detail = None  # Litestar's default detail just repeats the status phrase
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="kairos"')
    return _respond(
        Problem(
            type=_type_uri(slug),
            title=title,
            status=exc.status_code,
            detail=detail,
            instance=request.url.path,
        ),
        headers,
    )


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _data_error_handler(
    request: Request[Any, Any, Any], exc: asyncpg.DataError
) -> Response[Problem]:
    """SQLSTATE class 22 (a value PostgreSQL cannot take): a client's value slipped past
    validation. Answer 422, never echo the value (it may be a token or a location), and log
    it as the validation gap it is."""
    log.warning(
        "database refused a value (%s, SQLSTATE %s) on %s %s, request %s",
        type(exc).__name__,
        getattr(exc, "sqlstate", None),
        request.method,
        request.url.path,
        _request_id(request),
    )
    return _respond(
        Problem(
            type=_type_uri("invalid-value"),
            title="A value is out of range or not storable",
            status=HTTP_422_UNPROCESSABLE_ENTITY,
            detail="A value in the request cannot be stored (out of range, or not valid text).",
            instance=request.url.path,
        )
    )


def _internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # Log the exception type and route only: request bodies may hold tokens or locations.
    log.exception(
        "unhandled %s on %s %s, request %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        _request_id(request),
    )
    slug, title = _standard(HTTP_500_INTERNAL_SERVER_ERROR)
    return _respond(
        Problem(
            type=_type_uri(slug),
            title=title,
            status=HTTP_500_INTERNAL_SERVER_ERROR,
            detail="An unexpected error occurred; it has been logged.",
            instance=request.url.path,
        )
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    ProblemError: _problem_handler,
    asyncpg.DataError: _data_error_handler,
    ValidationException: _validation_handler,
    NotFoundException: _http_handler,
    MethodNotAllowedException: _http_handler,
    NotAuthorizedException: _http_handler,
    PermissionDeniedException: _http_handler,
    HTTPException: _http_handler,
    Exception: _internal_handler,
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries for the problems a route can answer with."""
    descriptions = {
        400: "Malformed request (e.g. the body is not JSON)",
        401: "Missing, expired or invalid bearer token",
        403: "The token's role may not use this route",
        404: "No such resource, or not one the caller may see",
        409: "Conflict with the current state",
        410: "The customer was erased (data-subject request) and cannot come back",
        412: "If-Match names an outdated version",
        413: "Request body too large",
        422: "Validation failed; errors[] names each field",
        428: "If-Match is required",
        503: "A dependency (the database) is unavailable",
    }
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=descriptions.get(status, _standard(status)[1]),
            media_type=PROBLEM_JSON,
        )
        for status in statuses
    }
