"""Regexes from the config run on RE2: linear time, Alertmanager's syntax."""

from __future__ import annotations

import pytest

from autoticket.config import RedactionConfig, RedactionPattern
from autoticket.pipeline.redact import Redactor
from autoticket.policy import PolicyError
from autoticket.policy.cel_condition import CelCondition
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


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"sess_[A-Za-z0-9]{8,}", "title\nx sess_ABCDEFGH12 y\nmore"),
        (r"^tok:\s*(?P<secret>\S+)$", "first field\ntok: abc\nlast field"),
        (r"(?i)acme-[0-9]+", "nothing here\nACME-1234"),
        (r"[0-9]{16}", "card 4111111111111111"),  # no literal at all: always possible
    ],
)
def test_the_prefilter_never_rules_out_a_text_a_field_of_which_matches(
    pattern: str, text: str
) -> None:
    rx = compile_config_regex(pattern)
    field = next(line for line in text.split("\n") if rx.search(line))
    assert rx.may_match(text)
    assert rx.may_match(field)


def test_the_prefilter_rules_out_text_without_the_literal() -> None:
    rx = compile_config_regex(r"sess_[A-Za-z0-9]{24,}")
    assert not rx.may_match("disk full on web-1; session expired; runbook https://x/y")
    redactor = Redactor(RedactionConfig(patterns=[RedactionPattern(name="s", regex=rx.pattern)]))
    custom_bit = 1 << (len(redactor.patterns) - 1)
    assert redactor.patterns[-1].name == "s"
    assert not redactor.candidates("disk full on web-1, no secrets here") & custom_bit
    assert redactor.candidates("x sess_" + "a" * 30) & custom_bit


def test_an_anchored_custom_pattern_masks_a_field_in_the_middle_of_an_event() -> None:
    config = RedactionConfig(
        patterns=[RedactionPattern(name="tok", regex=r"^tok:(?P<secret>\w+)$")]
    )
    redactor = Redactor(config)
    joined = "title\ntok:abc123\nlast"
    candidates = redactor.candidates(joined)
    assert redactor.redact("tok:abc123", candidates) == ("tok:[REDACTED:tok]", {"tok": 1})


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ('labels.instance.matches("web-(?!canary)")', "look-around"),
        ("title.matches(r'\\d+') && labels.job.matches('(x')", "'(x'"),
    ],
)
def test_a_regex_literal_in_a_condition_is_checked_at_compile_time(
    condition: str, reason: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        CelCondition(condition)
    assert caught.value.field == "condition"
    assert "invalid regex" in caught.value.reason and reason in caught.value.reason


def test_valid_regex_literals_in_a_condition_compile() -> None:
    condition = CelCondition('title.matches("(?i)disk .* full") && labels.x.matches(r"\\d+")')
    assert condition.source.startswith("title.matches")
