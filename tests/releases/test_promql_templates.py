"""SLI query templates: placeholders only inside quoted strings, values escaped for them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.releases.promql import QueryTemplate, TemplateError, escape_string

QUERY = 'sum(rate(errors_total{service="{service}",env="{environment}"}[1m]))'


def test_placeholders_are_filled_and_promql_braces_kept() -> None:
    template = QueryTemplate.parse(QUERY)
    assert template.uses == {"service", "environment"}
    assert template.render({"service": "checkout", "environment": "prod"}) == (
        'sum(rate(errors_total{service="checkout",env="prod"}[1m]))'
    )


def test_a_hostile_value_stays_one_label_value() -> None:
    rendered = QueryTemplate.parse(QUERY).render(
        {"service": 'a"} or vector(1) # \\', "environment": "x\ny"}
    )
    assert rendered == (
        'sum(rate(errors_total{service="a\\"} or vector(1) # \\\\",env="x\\ny"}[1m]))'
    )


def test_single_quoted_strings_escape_their_own_quote() -> None:
    template = QueryTemplate.parse("up{job='{service}'}")
    assert template.render({"service": "it's"}) == "up{job='it\\'s'}"


def test_a_placeholder_in_a_comment_is_left_alone() -> None:
    template = QueryTemplate.parse('up{job="{service}"} # per {service}')
    assert template.render({"service": "a"}) == 'up{job="a"} # per {service}'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("up{job={service}}", "no quoted string"),
        ("up{job=`{service}`}", "raw `...` string"),
        ('up{job="{team}"}', "unknown placeholder {team}"),
        ('up{job="{service}}', 'opened with " is not closed'),
        ("   ", "empty"),
    ],
)
def test_unsafe_or_broken_templates_are_refused(query: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("`", ".")):
        QueryTemplate.parse(query)


def _unescape(content: str) -> str:
    """PromQL's reading of a double-quoted string's content (the escapes used here)."""
    out: list[str] = []
    chars = iter(content)
    for char in chars:
        if char != "\\":
            assert char not in '"\n', f"unescaped {char!r} in {content!r}"
            out.append(char)
            continue
        nxt = next(chars)
        out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_escaping_round_trips_any_value(value: str) -> None:
    assert _unescape(escape_string(value)) == value
