"""Campaign message templates: ``{placeholder}`` text, checked when saved, rendered when sent.

Only the placeholders listed in :data:`PLACEHOLDERS` may appear, so a typo is a 422 for the
store manager at 7 a.m., not a broken push notification at noon.

Two ways to fill a template:

* :func:`render` fills what it has and leaves missing values empty (a preview of the text).
* :func:`render_message` is what invites use: it never yields a broken message. A missing
  ``{first_name}`` is left out gracefully, in any language, with the punctuation around it
  ("Hi {first_name}, welcome" → "Hi, welcome"; "Thanks, {first_name}!" → "Thanks!";
  "{first_name}, your table" → "Your table"). Any other missing value is a
  :class:`TemplateProblem`: the caller tries another locale or campaign instead of sending
  "open until ." to a customer.

Parsed templates are cached (by text), so rendering the same campaign again costs only the
string join.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from typing import Protocol

__all__ = [
    "GRACEFUL",
    "PLACEHOLDERS",
    "TemplateProblem",
    "Values",
    "check_template",
    "parse_template",
    "render",
    "render_message",
]

PLACEHOLDERS: Mapping[str, str] = {
    "first_name": "The customer's first name; left out gracefully when unknown",
    "store_name": "The store's name",
    "store_id": "The store's id",
    "campaign_name": "The campaign's name",
    "opens_at": "Local opening time, HH:MM",
    "closes_at": "Local closing time, HH:MM",
    "minutes_to_close": "Whole minutes until the store closes",
    "moment": "The relationship moment being celebrated, in words",
}

GRACEFUL: frozenset[str] = frozenset({"first_name"})
"""Placeholders a message can do without: left out with the punctuation around them."""

_formatter = string.Formatter()

Parts = tuple[tuple[str, str | None], ...]
"""A parsed template: (literal text, placeholder name or None) pairs."""


class TemplateProblem(ValueError):
    """The template text is malformed or uses an unknown placeholder."""


class Values(Protocol):
    """Where :func:`render_message` looks placeholder values up (a dict will do)."""

    def get(self, name: str, /) -> object | None: ...


@functools.lru_cache(maxsize=8192)
def parse_template(text: str) -> Parts:
    """Parse ``text`` once (cached).

    Raises:
        TemplateProblem: Unbalanced braces, format specs, or an unknown placeholder.
    """
    try:
        parsed = list(_formatter.parse(text))
    except ValueError as exc:
        raise TemplateProblem(
            f"malformed placeholder: {exc}; write literal braces as {{{{ }}}}"
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise TemplateProblem(f"unknown placeholder {{{name}}}; use one of {known}")
        if spec or conversion:
            raise TemplateProblem(f"placeholder {{{name}}} takes no format or conversion")
    return tuple((literal, name) for literal, name, _, _ in parsed)


def check_template(text: str) -> None:
    """Validate ``text``.

    Raises:
        TemplateProblem: Unbalanced braces, format specs, or an unknown placeholder.
    """
    parse_template(text)


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill a checked template; missing values render as empty text."""
    return "".join(
        literal + ("" if name is None else str(values.get(name, "")))
        for literal, name, _, _ in _formatter.parse(text)
    )


# A left-out value is first replaced by this marker, then removed with its punctuation.
_GAP = "\x00"
_TIDY: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Thanks, {first_name}!" / "Welcome back, {first_name}" -> "Thanks!" / "Welcome back"
    (re.compile(r"\s*[,;:]\s*\x00(?=\s*[.!?\u3002\uff01\uff1f]|\s*$)"), ""),
    # "Hi {first_name}, welcome" / "Hello {first_name}!" -> "Hi, welcome" / "Hello!"
    (re.compile(r"[ \t]+\x00(?=[,.;:!?\u3001\u3002\uff01\uff0c\uff1f])"), ""),
    # "{first_name}, your table" -> "your table" (capitalised below)
    (re.compile(r"^\x00\s*[,;:\u3001\uff0c]?\s*"), ""),
    # Anywhere else: "Dear {first_name} welcome" -> "Dear welcome"
    (re.compile(r"[ \t]*\x00[ \t]*"), " "),
)


def _tidy(text: str) -> str:
    starts_with_gap = text.startswith(_GAP)
    for pattern, replacement in _TIDY:
        text = pattern.sub(replacement, text)
    text = text.replace(_GAP, "").strip()
    if starts_with_gap and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def render_message(text: str, values: Values) -> str:
    """Fill a template for a customer; never a broken message.

    A :data:`GRACEFUL` placeholder without a value (None or blank) is left out with its
    punctuation; any other one without a value raises.

    Raises:
        TemplateProblem: The template is invalid, a required value is missing, or nothing
            is left to send.
    """
    pieces: list[str] = []
    gaps = False
    for literal, name in parse_template(text):
        pieces.append(literal)
        if name is None:
            continue
        value = values.get(name)
        shown = "" if value is None else str(value).strip()
        if shown:
            pieces.append(shown)
        elif name in GRACEFUL:
            pieces.append(_GAP)
            gaps = True
        else:
            raise TemplateProblem(f"no value for {{{name}}}")
    out = "".join(pieces)
    if gaps:
        out = _tidy(out)
    if not out.strip():
        raise TemplateProblem("the message is empty")
    return out
