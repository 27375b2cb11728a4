"""Cursors, ETags and templates: small pieces with many edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.common import check_if_match, decode_cursor, encode_cursor, etag
from app.problems import PreconditionFailedProblem, ValidationProblem
from app.templates import PLACEHOLDERS, TemplateProblem, check_template, render


@given(st.text(max_size=200))
def test_cursor_round_trips_any_key(key: str) -> None:
    token = encode_cursor(key)
    assert token.isascii()
    assert "=" not in token
    assert decode_cursor(token) == key


@pytest.mark.parametrize("token", ["garbage!", "AAAA", "%%%", "eyJ4IjoxfQ"])
def test_foreign_cursor_is_a_validation_problem(token: str) -> None:
    with pytest.raises(ValidationProblem) as raised:
        decode_cursor(token)
    assert raised.value.errors is not None
    assert raised.value.errors[0].field == "cursor"


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_if_match_accepts_only_the_current_version(current: int, sent: int) -> None:
    if sent == current:
        check_if_match(etag(sent), current)
        check_if_match(f"W/{etag(sent)}", current)
    else:
        with pytest.raises(PreconditionFailedProblem):
            check_if_match(etag(sent), current)
    check_if_match(f'"x", {etag(current)}', current)
    check_if_match("*", current)
    check_if_match(None, current)


def test_if_match_on_a_missing_resource_fails() -> None:
    with pytest.raises(PreconditionFailedProblem):
        check_if_match("*", None)
    check_if_match(None, None)


@given(
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=50),
    st.sampled_from(sorted(PLACEHOLDERS)),
)
def test_templates_render_known_placeholders(literal: str, name: str) -> None:
    text = literal + "{" + name + "}" + literal
    check_template(text)
    assert render(text, {name: "X"}) == literal + "X" + literal


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{nickname}", "unknown placeholder"),
        ("{store_name!r}", "no format"),
        ("{store_name:>5}", "no format"),
        ("{", "malformed"),
        ("}", "malformed"),
    ],
)
def test_template_problems(text: str, reason: str) -> None:
    with pytest.raises(TemplateProblem, match=reason):
        check_template(text)


def test_literal_braces_survive() -> None:
    check_template("{{not a placeholder}} {store_name}")
    assert render("{{x}} {store_name}", {"store_name": "Soho"}) == "{x} Soho"
