"""Matcher parsing and semantics (Alertmanager syntax)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoticket.policy import Matcher, MatchOp, PolicyError, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('severity="critical"', "severity", MatchOp.EQ, "critical"),
        ('severity!="info"', "severity", MatchOp.NE, "info"),
        ('team=~"db|storage"', "team", MatchOp.RE, "db|storage"),
        ('team!~"web.*"', "team", MatchOp.NRE, "web.*"),
        ("severity=critical", "severity", MatchOp.EQ, "critical"),
        ("  team  =~  db.*  ", "team", MatchOp.RE, "db.*"),
        ("env=", "env", MatchOp.EQ, ""),
        ('env=""', "env", MatchOp.EQ, ""),
        ('msg="say \\"hi\\""', "msg", MatchOp.EQ, 'say "hi"'),
        ('path="C:\\\\tmp"', "path", MatchOp.EQ, "C:\\tmp"),
        ('msg="a\\nb\\tc"', "msg", MatchOp.EQ, "a\nb\tc"),
        ('"k8s.io/app"="web"', "k8s.io/app", MatchOp.EQ, "web"),
        ('a="x, y {z}"', "a", MatchOp.EQ, "x, y {z}"),
        ('{job="api"}', "job", MatchOp.EQ, "api"),
    ],
)
def test_parse_matcher(text: str, name: str, op: MatchOp, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (['{a="b", c=~"d"}'], ['a="b"', 'c=~"d"']),
        (['{ a = b , c !~ "d" , }'], ['a="b"', 'c!~"d"']),
        (["{}"], []),
        (['x="1"', '{y="2",z="3"}'], ['x="1"', 'y="2"', 'z="3"']),
        ([], []),
    ],
)
def test_parse_matchers_brace_form(texts: list[str], expected: list[str]) -> None:
    assert [str(m) for m in parse_matchers(texts)] == expected


@pytest.mark.parametrize(
    ("text", "expected_str"),
    [
        ('severity="critical"', 'severity="critical"'),
        ("severity = critical", 'severity="critical"'),
        ('msg="say \\"hi\\" \\\\ bye"', 'msg="say \\"hi\\" \\\\ bye"'),
        ('msg="line1\\nline2"', 'msg="line1\\nline2"'),
        ('"odd name"!~"x"', '"odd name"!~"x"'),
        ("a=~(?i)foo", 'a=~"(?i)foo"'),
    ],
)
def test_str_round_trips(text: str, expected_str: str) -> None:
    m = parse_matcher(text)
    assert str(m) == expected_str
    assert parse_matcher(str(m)) == m


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('a="b"', {"a": "b"}, True),
        ('a="b"', {"a": "bc"}, False),
        ('a!="b"', {"a": "c"}, True),
        ('a!="b"', {}, True),
        # Anchoring: the regex must match the whole value.
        ('a=~"b"', {"a": "abc"}, False),
        ('a=~"b"', {"a": "b"}, True),
        ('a=~"b|c"', {"a": "bc"}, False),
        ('a=~"b|c"', {"a": "c"}, True),
        ('a=~"b.*"', {"a": "bcd"}, True),
        ('a=~"b"', {"a": "b\n"}, False),
        ('a!~"b"', {"a": "abc"}, True),
        ('a!~"b.*"', {"a": "bcd"}, False),
        ('a=~"(?i)db"', {"a": "DB"}, True),
        # Missing labels match as the empty string.
        ('foo=""', {}, True),
        ('foo=""', {"foo": "x"}, False),
        ('foo!=""', {}, False),
        ('foo!=""', {"foo": "x"}, True),
        ('foo=~".*"', {}, True),
        ('foo=~".+"', {}, False),
        ('foo!~".+"', {}, True),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('sev=="x"', ["invalid matcher 'sev==\"x\"'", "'==' is not an operator"]),
        ('a=~"("', ["invalid regex in 'a=~\"(\"'", "missing )"]),
        ("", ["empty matcher"]),
        ("   ", ["empty matcher"]),
        ("severity", ["expected an operator", "after 'severity'"]),
        ('1abc="x"', ["expected a label name at '1abc"]),
        ('a="unterminated', ["unterminated quoted string"]),
        ('a="x\\.y"', ["unknown escape '\\.'"]),
        ("a=x y", ["unexpected 'y' after the value"]),
        ("a='b'", ['unexpected "\'"', "double quotes"]),
        ('a="b" junk', ["unexpected 'junk'"]),
        ('{a="b" c="d"}', ["expected ',' or '}'", "'c=\"d\"}'"]),
        ('{a="b"', ["expected ',' or '}'", "the end"]),
        ('{a="b"} x', ["unexpected 'x' after '}'"]),
        ('{a="b", c="d"}', ["expected exactly one matcher, found 2"]),
        ('a<"b"', ["expected an operator", "found '<\"b\"'"]),
        ('""="x"', ["empty label name"]),
        ("a=x{2}", ["unexpected '{' in unquoted value"]),
    ],
)
def test_parse_errors_name_the_bad_part(text: str, fragments: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        parse_matcher(text)
    assert info.value.field is None
    for fragment in fragments:
        assert fragment in info.value.reason


def test_parse_matchers_error_field_is_entry_index() -> None:
    with pytest.raises(PolicyError) as info:
        parse_matchers(['a="b"', "{c=~d}", 'e=~"["'])
    assert info.value.field == "matchers.2"
    assert "invalid regex in 'e=~\"[\"'" in info.value.reason


def test_direct_construction_compiles_regex() -> None:
    m = Matcher("a", MatchOp.RE, "x+")
    assert m.regex is not None and m.matches({"a": "xxx"})
    assert Matcher("a", MatchOp.EQ, "x").regex is None
    with pytest.raises(PolicyError, match="invalid regex"):
        Matcher("a", MatchOp.NRE, "*")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_matcher_only_raises_policy_error(text: str) -> None:
    with contextlib.suppress(PolicyError):
        parse_matcher(text)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.sampled_from(list(MatchOp)),
    st.text(max_size=20),
)
def test_str_round_trips_for_any_text(name: str, op: MatchOp, value: str) -> None:
    try:
        m = Matcher(name, op, value)
    except PolicyError:
        return  # an invalid regex value
    assert parse_matcher(str(m)) == m
