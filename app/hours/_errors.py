"""The single error type of the hours module, and parsing of the library's parser errors."""

import re
from typing import Literal

__all__ = ["ErrorField", "OpeningHoursError", "from_parser_message"]

ErrorField = Literal["opening_hours", "timezone", "country", "region"]

# The library (pest) renders errors as " --> LINE:COL\n ... \n  = expected X, Y, or Z".
_LOCATION_RE = re.compile(r"-->\s*(\d+):(\d+)")
_EXPECTED_RE = re.compile(r"^\s*=\s*(.+?)\s*$", re.MULTILINE)
# Characters that end a token of an opening_hours expression.
_TOKEN_END = frozenset(" \t\r\n;,")


class OpeningHoursError(ValueError):
    """Invalid store hours input: an expression, a time zone, a country or a region code.

    Designed to become an HTTP 422: `field` names the offending input, `message` says what
    is wrong in plain words, and for expressions `position` / `fragment` point at the
    offending part.

    Attributes:
        message: Human-readable description of the problem.
        field: Which input is wrong: 'opening_hours', 'timezone', 'country' or 'region'.
        expression: The expression being compiled, when there is one.
        value: The rejected value of `field` (the expression, zone name, country or
            region code).
        position: 0-based character offset of the error in `expression`, if known.
        line: 1-based line of the error, as reported by the parser, if known.
        column: 1-based column of the error, as reported by the parser, if known.
        fragment: The offending text: from `position` to the end of its token ('' at the
            end of the expression), or the whole rejected value for non-parse errors.
        rule: The ';'-separated rule of `expression` that contains `position`, if known.
        expected: What the parser expected at `position`, if it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        field: ErrorField = "opening_hours",
        expression: str | None = None,
        value: str | None = None,
        position: int | None = None,
        line: int | None = None,
        column: int | None = None,
        fragment: str | None = None,
        rule: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field: ErrorField = field
        self.expression = expression
        self.value = value
        self.position = position
        self.line = line
        self.column = column
        self.fragment = fragment
        self.rule = rule
        self.expected = expected

    def to_dict(self) -> dict[str, object]:
        """Return the error as a JSON-ready mapping (for a 422 problem body)."""
        return {
            "field": self.field,
            "message": self.message,
            "value": self.value,
            "position": self.position,
            "line": self.line,
            "column": self.column,
            "fragment": self.fragment,
            "rule": self.rule,
            "expected": self.expected,
        }


def _offset_of(expression: str, line: int, column: int) -> int:
    """Convert the parser's 1-based line/column (in characters) to a 0-based offset."""
    lines = expression.split("\n")
    line = min(max(line, 1), len(lines))
    offset = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    return min(max(offset, 0), len(expression))


def _token_from(expression: str, position: int) -> str:
    end = position
    while end < len(expression) and expression[end] not in _TOKEN_END:
        end += 1
    return expression[position:end]


def _rule_at(expression: str, position: int) -> str:
    start = expression.rfind(";", 0, position) + 1
    end = expression.find(";", position)
    return expression[start : end if end >= 0 else len(expression)].strip()


def from_parser_message(expression: str, raw: str) -> OpeningHoursError:
    """Build an `OpeningHoursError` from the library's parser error text.

    Args:
        expression: The expression that failed to parse.
        raw: `str()` of the library's `ParserError`.

    Returns:
        The error, with position details when the text carries a line/column.
    """
    location = _LOCATION_RE.search(raw)
    expected_match = _EXPECTED_RE.search(raw)
    expected = expected_match.group(1) if expected_match else None
    if expected == "unknown parsing error":
        expected = None
    elif expected is not None and expected.startswith("expected "):
        expected = expected.removeprefix("expected ")
    if location is None:
        return OpeningHoursError(
            f"Invalid opening_hours expression: {raw.strip() or 'parse error'}",
            expression=expression,
            value=expression,
            fragment=expression,
            expected=expected,
        )
    line, column = int(location.group(1)), int(location.group(2))
    position = _offset_of(expression, line, column)
    # An empty token means the parser stopped on a separator: show that character.
    fragment = _token_from(expression, position) or expression[position : position + 1]
    rule = _rule_at(expression, position)
    where = f"line {line}, column {column}" if "\n" in expression else f"column {column}"
    near = f"near {fragment!r}" if fragment else "at the end of the expression"
    in_rule = f" in rule {rule!r}" if rule and rule != fragment else ""
    message = f"Invalid opening_hours expression at {where}, {near}{in_rule}"
    if expected:
        message += f": expected {expected}"
    return OpeningHoursError(
        message,
        expression=expression,
        value=expression,
        position=position,
        line=line,
        column=column,
        fragment=fragment,
        rule=rule,
        expected=expected,
    )
