"""The edge: what every request passes before any route sees it.

One ASGI wrapper around the whole application (routed or not, every method, every area) so a
route added tomorrow inherits the same defences without a line of its own:

* **Request id.** Every response carries ``X-Request-ID`` (the client's, when it sent a sane
  one; else a fresh one). Log lines of the request carry it too (:data:`REQUEST_ID`).
* **Target.** The path and every query parameter must be valid UTF-8 after percent-decoding
  and free of NUL (PostgreSQL's ``text`` cannot hold it): 400 naming the parameter.
* **Body.** At most ``max_body_bytes`` (413); valid UTF-8 (400 ``malformed-json``); and, as
  JSON, no string with NUL or a lone surrogate, no number beyond ±(2**53 - 1) (what every
  JSON parser reads exactly) and no nesting deeper than
  :data:`app.limits.JSON_MAX_DEPTH` (422 naming the field, e.g. ``attributes.a.a.a``).

The JSON checks cost a few C-level scans of the text on every request; only a body that
trips one of them is tokenised in Python to find the offending field.
"""

from __future__ import annotations

import contextvars
import json
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote_to_bytes

import msgspec

from app.limits import JSON_MAX_DEPTH, NUMBER_MAX
from app.problems import PROBLEM_JSON, FieldError, Problem

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID", "EdgeGuard", "RouteTable", "find_json_problem", "json_depth"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kairos_request_id", default=None
)
"""The id of the request being served (None outside a request); log records carry it."""

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# One JSON string token; the unrolled loop keeps the regex linear on long strings.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
# Cheap tells that a body needs the slow, path-aware look.
_SUSPECT = re.compile(
    r"\\u0000"  # NUL escape (jsonb and text reject it)
    r"|\\u[dD][89a-fA-F]"  # a surrogate escape (lone ones cannot be stored)
)
# A number that may lie beyond ±(2**53 - 1): 16 digits or more, unless they follow a decimal
# point (every double's shortest form has up to 17 decimals); or an exponent of two digits or
# more, unless it is inside an id such as a UUID: its mantissa must start where a JSON value
# can. Both are C-level scans (digits are found as a run of zeros once every digit is one: a
# regex tries a 16-digit match at every digit); candidates are looked at one by one.
_AS_ZEROS = str.maketrans("123456789", "000000000")
_SIXTEEN = "0" * 16
_EXPONENT = re.compile(r"[eE]\+?\d{2,}(?![\w.-])")
_MANTISSA = re.compile(r"(?:^|[\s:,\[])-?\d+(?:\.\d+)?$")
_TOKEN = re.compile(
    r"""(?P<str>"[^"\\]*(?:\\.[^"\\]*)*")
      |(?P<open>[\[{])
      |(?P<close>[\]}])
      |(?P<colon>:)
      |(?P<comma>,)
      |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)""",
    re.X | re.S,
)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def json_depth(text: str) -> int:
    """Deepest nesting of arrays/objects in a JSON text (brackets inside strings ignored)."""
    if text.count("[") + text.count("{") <= JSON_MAX_DEPTH:
        # Cannot be deeper than the number of openings: skip the scan (most bodies).
        return min(text.count("[") + text.count("{"), JSON_MAX_DEPTH)
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _key_text(key: str) -> str:
    if _PLAIN_KEY.match(key):
        return key
    # Quote odd keys; never echo a NUL or a surrogate back raw.
    return json.dumps(key, ensure_ascii=True)


def _path(stack: list[list[Any]]) -> str:
    out = ""
    for frame in stack:
        if frame[0] == "obj":
            if frame[1] is None:
                continue
            key = _key_text(frame[1])
            out += ("." if out and not key.startswith('"') else "") + (
                key if not key.startswith('"') else f"[{key}]"
            )
        else:
            out += f"[{frame[1]}]"
    return out or "body"


_NUL_PROBLEM = "must not contain the NUL character (\\u0000)"


def _string_problem(token: str) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None  # malformed: the body decoder reports it
    if "\x00" in value:
        return _NUL_PROBLEM
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate escape; send valid Unicode"
    return None


def _number_problem(token: str) -> str | None:
    value: float = int(token) if not any(c in token for c in ".eE") else float(token)
    if not -NUMBER_MAX <= value <= NUMBER_MAX:  # inf included
        return f"number out of range (must be between -{NUMBER_MAX} and {NUMBER_MAX})"
    return None


def _tokens(text: str) -> Iterator[re.Match[str]]:
    return _TOKEN.finditer(text)


def _suspect(text: str) -> bool:
    """Whether ``text`` may hold a string or number no route could store (cheap tells)."""
    if _SUSPECT.search(text):
        return True
    zeros = text.translate(_AS_ZEROS)
    start = zeros.find(_SIXTEEN)
    while start != -1:
        if start == 0 or zeros[start - 1] != ".":
            return True
        end = start + len(_SIXTEEN)
        while end < len(zeros) and zeros[end] == "0":
            end += 1
        start = zeros.find(_SIXTEEN, end)
    return any(
        _MANTISSA.search(text[max(0, m.start() - 40) : m.start()]) for m in _EXPONENT.finditer(text)
    )


def _in_items(stack: list[list[Any]], items: str | None) -> bool:
    """Whether the token being read lies in an element of the top-level array ``items``."""
    return (
        items is not None
        and len(stack) >= 2
        and stack[0][0] == "obj"
        and stack[0][1] == items
        and stack[1][0] == "arr"
    )


def find_json_problem(text: str, items: str | None = None) -> tuple[str, str] | None:
    """The first field that no route could store, as ``(path, message)``; None if clean.

    Checks every string (keys included) for NUL and lone surrogates, every number for range,
    and the nesting depth. Malformed JSON is not this function's business: it returns None
    and the body decoder answers 400.

    Args:
        items: The top-level array whose elements the route validates one by one (the
            events of a batch): a NUL or a number out of range inside one of them is left
            to the route, which rejects that element alone. Lone surrogates (the body
            decoder cannot read past one) and the depth still count for the whole body.
    """
    depth_exceeded = json_depth(text) > JSON_MAX_DEPTH
    if not depth_exceeded and not _suspect(text):
        return None
    stack: list[list[Any]] = []  # ["obj", key | None, expecting_key] or ["arr", index]
    for match in _tokens(text):
        kind = match.lastgroup
        lexeme = match.group()
        top = stack[-1] if stack else None
        if kind == "open":
            if len(stack) + 1 > JSON_MAX_DEPTH:
                return _path(stack), f"nested deeper than {JSON_MAX_DEPTH} levels"
            stack.append(["obj", None, True] if lexeme == "{" else ["arr", 0])
        elif kind == "close":
            if stack:
                stack.pop()
        elif kind == "colon":
            if top is not None and top[0] == "obj":
                top[2] = False
        elif kind == "comma":
            if top is not None:
                if top[0] == "obj":
                    top[2] = True
                else:
                    top[1] += 1
        elif kind == "str":
            if top is not None and top[0] == "obj" and top[2]:
                problem = _string_problem(lexeme)
                try:
                    top[1] = json.loads(lexeme)
                except ValueError:
                    top[1] = "?"
                if problem and not (_NUL_PROBLEM in problem and _in_items(stack, items)):
                    return _path(stack), f"field name {problem}"
            else:
                problem = _string_problem(lexeme)
                if problem and not (_NUL_PROBLEM in problem and _in_items(stack, items)):
                    return _path(stack), problem
        elif kind == "num":
            problem = _number_problem(lexeme)
            if problem and not _in_items(stack, items):
                return _path(stack), problem
    return None


# --------------------------------------------------------------------------- ASGI

_encoder = msgspec.json.Encoder()


async def _send_problem(send: Send, problem: Problem, headers: list[tuple[bytes, bytes]]) -> None:
    body = _encoder.encode(problem)
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _field_problem(
    status: int, slug: str, title: str, field: str, message: str, instance: str
) -> Problem:
    return Problem(
        type=f"urn:kairos:problem:{slug}",
        title=title,
        status=status,
        detail=f"{field}: {message}",
        instance=instance,
        errors=[FieldError(field=field, message=message)],
    )


def _bad_parameter(where: str, name: str, message: str, instance: str) -> Problem:
    field = name if where == "query" else f"{where}.{name}" if name else where
    return _field_problem(
        400, "invalid-parameter", "Invalid request parameter", field, message, instance
    )


def _decode_component(raw: bytes, *, plus_is_space: bool) -> str | None:
    """Percent-decode; None when the result is not UTF-8 or holds a NUL."""
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _safe_path(scope: Scope) -> str:
    path = scope.get("path", "")
    return path if "\x00" not in path else path.replace("\x00", "")


def _target_problem(scope: Scope) -> Problem | None:
    instance = _safe_path(scope)
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    raw_path = raw_path.split(b"?", 1)[0]  # some test transports leave the query on it
    if "\x00" in scope.get("path", "") or _decode_component(raw_path, plus_is_space=False) is None:
        return _bad_parameter("path", "", "is not valid UTF-8 or contains NUL", instance)
    query: bytes = scope.get("query_string", b"")
    if not query:
        return None
    for pair in query.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode_component(raw_name, plus_is_space=True)
        if name is None:
            return _bad_parameter(
                "query", "query", "a parameter name is not valid UTF-8 or contains NUL", instance
            )
        if _decode_component(raw_value, plus_is_space=True) is None:
            return _bad_parameter("query", name, "is not valid UTF-8 or contains NUL", instance)
    return None


def _malformed(instance: str, detail: str) -> Problem:
    return Problem(
        type="urn:kairos:problem:malformed-json",
        title="Malformed JSON body",
        status=400,
        detail=detail,
        instance=instance,
    )


def _too_large(instance: str, limit: int) -> Problem:
    return Problem(
        type="urn:kairos:problem:payload-too-large",
        title="Request body too large",
        status=413,
        detail=f"the body exceeds {limit} bytes",
        instance=instance,
    )


class _BodyTooLarge(Exception):
    pass


_PARAM = re.compile(r"\{[^}]+\}")


class RouteTable:
    """Which methods each path template answers, for ``OPTIONS`` and ``405`` + ``Allow``.

    Litestar's own automatic ``OPTIONS`` answer can list only the methods of the first
    handler registered on a path; this table is built from the finished route list.
    """

    def __init__(
        self,
        templates: dict[str, set[str]],
        query: dict[tuple[str, str], frozenset[str]] | None = None,
        items: dict[tuple[str, str], str] | None = None,
    ) -> None:
        entries = []
        for template, methods in templates.items():
            if "GET" in methods:  # answered at the edge: a GET without its body
                methods = methods | {"HEAD"}
            params = len(_PARAM.findall(template))
            literal_parts = _PARAM.split(template)
            pattern = "^" + "[^/]+".join(re.escape(part) for part in literal_parts) + "$"
            entries.append(
                (params, re.compile(pattern), frozenset(methods | {"OPTIONS"}), template)
            )
        entries.sort(key=lambda e: e[0])  # static templates win over parametrised ones
        self._entries = entries
        self._query = query or {}
        self._items = items or {}

    def match(self, path: str) -> tuple[frozenset[str], str] | None:
        """The methods and the template of the route ``path`` falls on; None when none."""
        path = path.rstrip("/") or "/"
        for _, pattern, methods, template in self._entries:
            if pattern.match(path):
                return methods, template
        return None

    def query_names(self, template: str, method: str) -> frozenset[str] | None:
        """The query parameters the operation takes; None when not known (not checked)."""
        return self._query.get((template, method))

    def items(self, template: str, method: str) -> str | None:
        """The top-level array of the operation's body whose elements it validates one by
        one (``opt={"edge_items": ...}`` on the handler), if any."""
        return self._items.get((template, method))


def _method_problem(method: str, allowed: frozenset[str], instance: str) -> Problem:
    return Problem(
        type="urn:kairos:problem:method-not-allowed",
        title="Method not allowed",
        status=405,
        detail=f"{method} is not allowed here; use one of {', '.join(sorted(allowed))}",
        instance=instance,
    )


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the response's start as it is, its content dropped."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)

    return head


class EdgeGuard:
    """ASGI wrapper applied around the whole Litestar application (see the module docstring).

    Args:
        app: The application's ASGI handler (routing, exception handling and all).
        max_body_bytes: Request bodies above this size answer 413 before any parsing.
        routes: The application's route table; ``OPTIONS`` is answered from it (204 with a
            complete ``Allow``) and a method a path does not have gets 405 with ``Allow``.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, routes: RouteTable) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append(id_header)
                message["headers"] = headers
            await send(message)

        respond: Send = send_with_id
        try:
            problem = _target_problem(scope)
            if problem is not None:
                await _send_problem(send, problem, [id_header])
                return
            method = str(scope.get("method", "GET"))
            route = self.routes.match(scope.get("path", "/"))
            if route is not None:
                allowed, template = route
                allow_header = (b"allow", ", ".join(sorted(allowed)).encode())
                if method == "OPTIONS":
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 204,
                            "headers": [allow_header, id_header],
                        }
                    )
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                if method not in allowed:
                    problem = _method_problem(method, allowed, _safe_path(scope))
                    await _send_problem(send, problem, [allow_header, id_header])
                    return
                if method == "HEAD":
                    # RFC 9110: the GET answer without its content (status and headers as
                    # they are, Content-Length included); the app only ever sees the GET.
                    scope = cast("Scope", {**scope, "method": "GET"})
                    method = "GET"
                    respond = _without_body(send_with_id)
                problem = self._unknown_query(scope, method, template)
                if problem is not None:
                    await _send_problem(respond, problem, [])
                    return
            if scope.get("method", "GET") in _BODY_METHODS:
                instance = _safe_path(scope)
                try:
                    body = await self._read_body(scope, receive)
                except _BodyTooLarge:
                    await _send_problem(
                        send, _too_large(instance, self.max_body_bytes), [id_header]
                    )
                    return
                items = None if route is None else self.routes.items(route[1], method)
                problem = self._body_problem(body, instance, items)
                if problem is not None:
                    await _send_problem(send, problem, [id_header])
                    return
                receive = self._replay(body, receive)
            await self.app(scope, receive, respond)
        finally:
            REQUEST_ID.reset(token)

    def _unknown_query(self, scope: Scope, method: str, template: str) -> Problem | None:
        """A query parameter the operation does not take is a client's mistake (a typo in
        ``limt=5`` would otherwise be silently ignored): 400 naming it and the known ones."""
        query: bytes = scope.get("query_string", b"")
        if not query:
            return None
        known = self.routes.query_names(template, method)
        if known is None:
            return None
        for pair in query.split(b"&"):
            name = _decode_component(pair.partition(b"=")[0], plus_is_space=True)
            if name and name not in known:
                takes = ", ".join(sorted(known)) or "none"
                return _bad_parameter(
                    "query",
                    name,
                    f"is not a parameter of this operation (it takes: {takes})",
                    _safe_path(scope),
                )
        return None

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for key, value in scope.get("headers", []):
            if key.lower() == b"x-request-id":
                try:
                    text = value.decode("ascii")
                except UnicodeDecodeError:
                    break
                if _REQUEST_ID_OK.match(text):
                    return text
                break
        return uuid.uuid4().hex

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for key, value in scope.get("headers", []):
            if key.lower() == b"content-length":
                try:
                    if int(value) > self.max_body_bytes:
                        raise _BodyTooLarge
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _body_problem(body: bytes, instance: str, items: str | None = None) -> Problem | None:
        if not body:
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _malformed(instance, f"The request body is not valid UTF-8 (byte {exc.start}).")
        found = find_json_problem(text, items)
        if found is None:
            return None
        field, message = found
        return _field_problem(
            422, "validation-error", "Request validation failed", field, message, instance
        )

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
