"""Campaign message templates: ``{placeholder}`` text, checked when saved, rendered when sent.

Only the placeholders listed in :data:`PLACEHOLDERS` may appear, so a typo is a 422 for the
store manager at 7 a.m., not a broken push notification at noon.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

__all__ = ["PLACEHOLDERS", "TemplateProblem", "check_template", "render"]

PLACEHOLDERS: Mapping[str, str] = {
    "store_name": "The store's name",
    "store_id": "The store's id",
    "campaign_name": "The campaign's name",
    "opens_at": "Local opening time, HH:MM",
    "closes_at": "Local closing time, HH:MM",
    "minutes_to_close": "Whole minutes until the store closes",
    "moment": "The relationship moment being celebrated, in words",
}

_formatter = string.Formatter()


class TemplateProblem(ValueError):
    """The template text is malformed or uses an unknown placeholder."""


def check_template(text: str) -> None:
    """Validate ``text``.

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


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill a checked template; missing values render as empty text."""
    return "".join(
        literal + ("" if name is None else str(values.get(name, "")))
        for literal, name, _, _ in _formatter.parse(text)
    )
