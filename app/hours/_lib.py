"""Typed access to the parts of `opening_hours` that its stub file does not declare."""

import opening_hours

__all__ = ["ParserError", "UnknownCountryError"]

# The library raises these, but its generated .pyi does not list them.
ParserError: type[Exception] = opening_hours.ParserError  # type: ignore[attr-defined]
UnknownCountryError: type[Exception] = opening_hours.UnknownCountryError  # type: ignore[attr-defined]
