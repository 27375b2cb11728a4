"""Typed access to the parts of `opening_hours` that its stub file does not declare."""

import opening_hours

__all__ = ["ParserError"]

# The library raises this, but its generated .pyi does not list it.
ParserError: type[Exception] = opening_hours.ParserError  # type: ignore[attr-defined]
