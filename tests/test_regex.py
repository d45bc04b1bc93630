"""Regexes from the config run on RE2: linear time, Alertmanager's syntax."""

from __future__ import annotations

import pytest

from autoticket.config import RedactionConfig, RedactionPattern
from autoticket.pipeline.redact import Redactor
from autoticket.policy import PolicyError
from autoticket.policy.matchers import parse_matcher
from autoticket.regex import RegexError, compile_config_regex


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"foo(?=bar)", "lookahead"),
        (r"(?<!x)foo", "lookahead and lookbehind"),
        (r"(?>a+)b", "atomic groups"),
        (r"sess_[A-Za-z0-9{24,}", "missing ]"),
        (r"(ab){1001}", "repetition"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_the_reason(pattern: str, hint: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_config_regex(pattern)
    assert hint in caught.value.reason
    assert caught.value.pattern == pattern


def test_a_pattern_too_big_for_the_memory_budget_is_refused() -> None:
    with pytest.raises(RegexError, match="pattern too large"):
        compile_config_regex(r"\pL{1000}")


def test_a_catastrophic_pattern_for_backtracking_is_linear_here() -> None:
    # With Python's `re` this fullmatch backtracks through 2**5000 ways to split the a's.
    rx = compile_config_regex(r"(a+)+$")
    assert rx.fullmatches("a" * 5000) is True
    assert rx.fullmatches("a" * 5000 + "!") is False


def test_matchers_are_anchored_and_use_re2_syntax() -> None:
    canary = parse_matcher('instance=~".*-.*-canary"')
    assert canary.matches({"instance": "web-1-canary"})
    assert not canary.matches({"instance": "web-1-canary-2"})  # anchored at both ends
    assert not canary.matches({"instance": "x" * 90_000 + "-1-canary-"})
    assert canary.matches({"instance": "x-" * 45_000 + "canary"})
    # A flag group in the middle: RE2 (and Go) take it, Python's `re` refuses it.
    assert parse_matcher('env=~"prod(?i)uction"').matches({"env": "prodUCTION"})
    # \d is ASCII, as in Alertmanager: Arabic-Indic digits are not digits here.
    assert not parse_matcher(r'n=~"\\d+"').matches({"n": "\u0661\u0662"})


def test_matcher_results_do_not_depend_on_memoized_values() -> None:
    matcher = parse_matcher('team!~"ops|sre"')
    for _ in range(2):  # the second round answers from the memo
        assert matcher.matches({"team": "ops"}) is False
        assert matcher.matches({"team": "web"}) is True
        assert matcher.matches({}) is True


def test_a_matcher_with_lookahead_names_the_matcher() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_matcher('env=~"prod(?!-eu)"')
    assert 'env=~"prod(?!-eu)"' in caught.value.reason
    assert "lookahead" in caught.value.reason


def test_custom_redaction_patterns_run_on_re2_and_mask_a_named_group() -> None:
    config = RedactionConfig(
        patterns=[
            RedactionPattern(name="session", regex=r"sess_(?P<secret>[A-Za-z0-9]{8,})"),
            RedactionPattern(name="slow", regex=r"(x+x+)+y"),
        ]
    )
    redactor = Redactor(config)
    text, counts = redactor.redact("cookie sess_ABCDEFGH12 and " + "x" * 3000)
    assert text == "cookie sess_[REDACTED:session] and " + "x" * 3000
    assert counts == {"session": 1}


def test_a_custom_redaction_pattern_re2_cannot_run_is_a_value_error() -> None:
    config = RedactionConfig(patterns=[RedactionPattern(name="s", regex=r"(?<=key=)\w+")])
    with pytest.raises(ValueError, match="lookahead and lookbehind"):
        Redactor(config)
