"""The OpenAPI document, made to tell the truth about what the API accepts and answers.

Litestar generates the document from the route table; this module finishes it once, for every
route alike, so a route added later is described correctly without a line of its own:

* **Bodies are described by msgspec itself.** Each Struct's component schema is replaced by
  ``msgspec.json.schema_components``: constraints on list items and dict keys, ``null``-able
  fields and ``additionalProperties: false`` for bodies that refuse unknown fields are exactly
  what decoding enforces.
* **What the edge refuses is in the schema.** Strings never hold NUL (PostgreSQL cannot store
  it), instants are years 1971-2199 in any offset (the API accepts 1970-2200 UTC), numbers lie
  within ±(2**53 - 1), decimals are decimal strings, free-form objects are JSON values
  without those.
* **Every problem an operation can answer is listed**, as ``application/problem+json``: 400
  (malformed input, unknown query parameters), 401/403 on guarded routes, 413 and 422 where
  there is a body or parameters.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.plugin import OpenAPIPlugin

from app.auth import route_roles
from app.limits import NUMBER_MAX
from app.problems import PROBLEM_JSON

if TYPE_CHECKING:
    from litestar import Litestar

__all__ = ["BUSINESS_RULES", "NO_NUL_PATTERN", "install", "openapi_dict", "query_parameters"]

NO_NUL_PATTERN = r"^[^\u0000]*$"
"""Text PostgreSQL can store: no NUL, no unpaired UTF-16 surrogate."""

INSTANT_PATTERN = r"^(197[1-9]|19[89][0-9]|20[0-9][0-9]|21[0-9][0-9])-"
"""RFC 3339 instants in years 1971-2199: inside the accepted range whatever the offset."""

DECIMAL_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"
"""Decimal amounts and quantities as strings (the API also takes JSON numbers)."""

JSON_VALUE = "JsonValue"
_JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value whose strings hold no NUL (nested at most 32 levels deep)",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number", "minimum": -NUMBER_MAX, "maximum": NUMBER_MAX},
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": "array", "items": {"$ref": f"#/components/schemas/{JSON_VALUE}"}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL_PATTERN},
            "additionalProperties": {"$ref": f"#/components/schemas/{JSON_VALUE}"},
        },
    ],
}

_STANDARD_PROBLEMS = {
    400: "Malformed request: not JSON, bytes that are not UTF-8, NUL in a parameter, or a "
    "query parameter this operation does not take",
}


def _structs(app: Litestar) -> dict[str, type[msgspec.Struct]]:
    """Every msgspec Struct reachable from a handler's parameters or return type."""
    found: dict[str, type[msgspec.Struct]] = {}

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and tp.__name__ not in found:
            found[tp.__name__] = tp

    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            signature = handler.parsed_fn_signature
            for parameter in signature.parameters.values():
                visit(parameter.annotation)
            visit(signature.return_type.annotation)
            # A body decoded by the handler itself is documented by a dependency's `data`.
            for dependency in handler.resolve_dependencies().values():
                data = dependency.parsed_fn_signature.parameters.get("data")
                if data is not None:
                    visit(data.annotation)
    return found


def _tighten(schema: Any) -> None:
    """Walk a schema and say what the edge enforces (see the module docstring)."""
    if isinstance(schema, list):
        for item in schema:
            _tighten(item)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "const" not in schema:
        fmt = schema.get("format")
        if fmt == "date-time":
            schema.setdefault("pattern", INSTANT_PATTERN)
        elif fmt == "decimal":
            schema.setdefault("pattern", DECIMAL_PATTERN)
        elif fmt is None:
            schema.setdefault("pattern", NO_NUL_PATTERN)
    elif kind in ("integer", "number"):
        schema.setdefault("minimum", -NUMBER_MAX)
        schema.setdefault("maximum", NUMBER_MAX)
    elif kind == "object" and schema.get("additionalProperties") is not False:
        # Keys are text too: an object that takes extra keys takes them without NUL, and the
        # extra values are JSON values the edge accepts.
        schema.setdefault("propertyNames", {"pattern": NO_NUL_PATTERN})
        schema.setdefault("additionalProperties", {"$ref": f"#/components/schemas/{JSON_VALUE}"})
    for key in ("additionalProperties", "items"):
        value = schema.get(key)
        if value == {} or value is True:
            schema[key] = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
    for value in schema.values():
        if isinstance(value, dict | list):
            _tighten(value)


BUSINESS_RULES: dict[str, dict[str, str]] = {
    # operationId -> {field: the rule}. Rules a JSON schema cannot state (they relate fields,
    # depend on stored state or on the clock, or on a grammar). A request that breaks one gets
    # a 422 naming the field; the rules are published as ``x-kairos-rules`` on the operation.
    "putStore": {
        "timezone": "an IANA time zone name (derived from lat/lng when absent)",
        "opening_hours": "a valid OSM opening_hours expression, evaluable in bounded time",
        "country": "an ISO 3166-1 country with a public-holiday calendar when hours use PH",
        "region": "a subdivision of the country, when given",
    },
    "putGeofence": {
        "geometry": "exactly one of geometry or circle; a simple polygon not crossing the "
        "antimeridian",
        "circle": "exactly one of geometry or circle",
    },
    "putCampaign": {
        "default_locale": "one of the locales in templates",
        "templates": "placeholders from the documented list only",
        "store_ids": "at least one store you manage, unless all_stores (admins only)",
        "all_stores": "admins only, with no store_ids",
        "active_until": "after active_from",
        "eligibility.moments": "known moment codes",
    },
    "recordPurchase": {
        "items": "quantities positive and below 1,000,000; unit prices non-negative",
        "store_id": "required for channel store, absent for online; an existing store",
        "occurred_at": "not more than 5 minutes in the future",
        "currency": "an active ISO 4217 code",
        "total": "non-negative, at most 2 decimals",
    },
    "upsertSupportCase": {
        "opened_at": "not more than 5 minutes in the future",
        "closed_at": "not before opened_at, not in the future",
        "store_id": "an existing store",
    },
    "recordDelivery": {
        "customer_id": "required unless a recorded purchase with this order_id names one",
        "delivered_at": "not more than 5 minutes in the future",
    },
    "upsertCustomer": {"quiet_hours.timezone": "an IANA time zone name"},
    "setMyQuietHours": {"timezone": "an IANA time zone name"},
    "previewDecision": {"customer_timezone": "an IANA time zone name"},
    "putPolicy": {"moments.high_value_lifetime_value": "an amount between 0 and 10^12"},
    "postEvents": {
        "events": "each event is validated on its own: an invalid one is answered `rejected` "
        "with its errors (events[i].field) in a 200, and the others in the batch are accepted",
        "occurred_at": "at most 2 minutes ahead of the server's clock (else rejected); older "
        "than 10 minutes is stored as stale, without a decision",
    },
}
"""Business rules per operation, published in the document (see :data:`BUSINESS_RULES`)."""

CURSOR_RULE = "only a next_cursor returned by the previous page"
IF_MATCH_RULE = "412 unless it names the current ETag (or * for any existing version)"


def _add_rules(doc: dict[str, Any]) -> None:
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            rules = dict(BUSINESS_RULES.get(operation.get("operationId", ""), {}))
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "cursor":
                    rules["cursor"] = CURSOR_RULE
                if parameter.get("name") == "If-Match":
                    rules["If-Match"] = IF_MATCH_RULE
            if rules:
                operation["x-kairos-rules"] = rules


def _complete_responses(doc: dict[str, Any], app: Litestar) -> None:
    guarded: dict[tuple[str, str], bool] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                guarded[(route.path_format, method.lower())] = route_roles(handler) is not None
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    descriptions = {
        400: _STANDARD_PROBLEMS[400],
        401: "Missing, expired or invalid credentials",
        403: "The token's role may not use this route",
        413: "Request body too large",
        422: "Validation failed; errors[] names each field",
    }
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = {400}
            if guarded.get((path, method), False):
                wanted |= {401, 403}
            if operation.get("requestBody"):
                wanted |= {413, 422}
            if operation.get("parameters"):
                wanted.add(422)
            for status in sorted(wanted):
                entry = responses.get(str(status))
                if entry is None or PROBLEM_JSON not in entry.get("content", {}):
                    responses[str(status)] = {
                        "description": (entry or {}).get("description", descriptions[status])
                        if entry and "Validation Exception" not in str(entry)
                        else descriptions[status],
                        "content": content,
                    }


_FINISHED: dict[tuple[str, ...], dict[str, Any]] = {}


def _route_key(app: Litestar) -> tuple[str, ...]:
    return tuple(
        sorted(
            f"{route.path} {handler.handler_name} {sorted(handler.http_methods)}"
            for route in app.routes
            for handler in getattr(route, "route_handlers", [])
        )
    )


def install(app: Litestar) -> None:
    """Make the application serve the finished document.

    The document depends only on the route table, so it is built once per process and
    route table (building it takes about half a second) and shared by every app instance.
    """
    key = _route_key(app)
    doc = _FINISHED.get(key)
    if doc is None:
        doc = _finish(app.plugins.get(OpenAPIPlugin).provide_openapi_schema(), app)
        _FINISHED[key] = doc
    app.plugins.get(OpenAPIPlugin)._openapi_schema = doc


def query_parameters(doc: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """``(path template, METHOD)`` → the query parameters the operation takes."""
    found: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                found[(path, method.upper())] = frozenset(
                    p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
                )
    return found


def openapi_dict(app: Litestar) -> dict[str, Any]:
    """The finished document (what ``/schema/openapi.json`` serves and ``kairos openapi``
    writes)."""
    return app.plugins.get(OpenAPIPlugin).provide_openapi_schema()


def _finish(doc: dict[str, Any], app: Litestar) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    structs = [tp for name, tp in sorted(_structs(app).items()) if name in schemas]
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    for name, schema in components.items():
        schemas[name] = schema
    schemas[JSON_VALUE] = _JSON_VALUE_SCHEMA
    for name, schema in schemas.items():
        if name != JSON_VALUE:
            _tighten(schema)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    _tighten(parameter.get("schema"))
    _complete_responses(doc, app)
    _add_rules(doc)
    return doc
