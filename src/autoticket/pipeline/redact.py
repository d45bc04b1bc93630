"""The redact stage: mask secrets in event text before anything stores or forwards it.

Secrets are replaced by `[REDACTED:<kind>]`; the context around them (the key
name, the URL user and host, the auth scheme) is kept so a ticket still reads.
Runs on every event, so the common case, no secret at all, is one keyword scan
over the event's joined text (see `secret_patterns` for the prefilter contract).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING

from autoticket.config import RedactionConfig
from autoticket.model import Decision, Event
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.pipeline.secret_patterns import (
    BUILTIN_KINDS,
    BUILTIN_PATTERNS,
    SENSITIVE_KEYS,
    SecretPattern,
)
from autoticket.regex import ConfigRegex, compile_config_regex

if TYPE_CHECKING:
    from autoticket.config import Config

__all__ = ["BUILTIN_KINDS", "RedactStage", "Redactor", "marker"]

_MARKER = re.compile(r"\[REDACTED:[^\]\r\n]*\]")
# Kinds appear inside markers, so no `]`, spaces or newlines in their names.
_KIND_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


class Redactor:
    """Masks secrets in text: the built-in kinds (minus `disable`) then the custom patterns.

    The prefilter maps every keyword to a bitmask of the patterns it may
    trigger: one pass of substring checks tells which few patterns (usually
    none) are worth running at all.
    """

    def __init__(self, config: RedactionConfig) -> None:
        unknown = sorted(set(config.disable) - BUILTIN_KINDS)
        if unknown:
            known = ", ".join(sorted(BUILTIN_KINDS))
            raise ValueError(f"redaction.disable: unknown kind(s) {unknown}; known: {known}")
        bad = [p.name for p in config.patterns if not _KIND_NAME.fullmatch(p.name)]
        if bad:
            raise ValueError(f"redaction.patterns: invalid name(s) {bad}; use [A-Za-z0-9_.-]")
        off = set(config.disable)
        # Custom patterns are RE2 (linear time); a bad one is a RegexError (a ValueError).
        custom = tuple(
            SecretPattern(p.name, compile_config_regex(p.regex), None) for p in config.patterns
        )
        self.patterns: tuple[SecretPattern, ...] = (
            tuple(p for p in BUILTIN_PATTERNS if p.name not in off) + custom
        )
        raw: dict[str, int] = {}
        folded: dict[str, int] = {}
        self._always = 0  # patterns without keywords nor prefilter: always candidates
        screened: list[tuple[int, ConfigRegex]] = []  # custom: RE2's own prefilter
        for i, p in enumerate(self.patterns):
            if p.keywords is None:
                if isinstance(p.regex, ConfigRegex):
                    screened.append((1 << i, p.regex))
                else:
                    self._always |= 1 << i
                continue
            table = folded if p.fold else raw
            for k in p.keywords:
                table[k] = table.get(k, 0) | 1 << i
        self._screened = tuple(screened)
        self._raw = tuple(raw.items())
        self._folded = tuple(folded.items())
        self._sensitive_keys = tuple((k, rx) for k, rx in SENSITIVE_KEYS if k not in off)
        self._selected: dict[int, tuple[SecretPattern, ...]] = {}

    def candidates(self, text: str) -> int:
        """Bitmask of the patterns that may match somewhere in `text` (0: nothing can)."""
        mask = self._always
        for bit, regex in self._screened:
            if regex.may_match(text):
                mask |= bit
        for k, bits in self._raw:
            if k in text:
                mask |= bits
        if self._folded:
            lowered = text.casefold()
            for k, bits in self._folded:
                if k in lowered:
                    mask |= bits
        return mask

    def redact(self, text: str, candidates: int | None = None) -> tuple[str, dict[str, int]]:
        """Return the masked text and how many secrets of each kind were masked.

        `candidates` (from `candidates()` over a text that contains this one)
        saves the prefilter when many fields of one event are redacted.
        """
        counts: dict[str, int] = {}
        if not text:
            return text, counts
        mask = self.candidates(text) if candidates is None else candidates
        if not mask:
            return text, counts
        lowered: str | None = None
        for pattern in self._select(mask):
            if pattern.keywords is not None:
                if pattern.fold:
                    if lowered is None:
                        lowered = text.casefold()
                    hay = lowered
                else:
                    hay = text
                for k in pattern.keywords:
                    if k in hay:
                        break
                else:
                    continue
            masked = _mask(pattern, text, counts)
            if masked is not text:
                text = masked
                lowered = None
        return text, counts

    def _select(self, mask: int) -> tuple[SecretPattern, ...]:
        """The patterns in `mask`, in order; cached, as few distinct masks occur."""
        found = self._selected.get(mask)
        if found is None:
            if len(self._selected) >= 4096:
                self._selected.clear()
            found = tuple(p for i, p in enumerate(self.patterns) if mask >> i & 1)
            self._selected[mask] = found
        return found

    def sensitive_key_kind(self, key: str) -> str | None:
        """The kind whose name `key` is (e.g. `db_password` -> password), if any."""
        for kind, rx in self._sensitive_keys:
            if rx.fullmatch(key):
                return kind
        return None

    def redact_keyed(
        self, key: str, value: str, candidates: int | None = None
    ) -> tuple[str, dict[str, int]]:
        """Like `redact`, but a value under a secret-named key is masked whole."""
        kind = self.sensitive_key_kind(key)
        if kind is None or not value or _MARKER.fullmatch(value):
            return self.redact(value, candidates)
        return marker(kind), {kind: 1}


def _mask(pattern: SecretPattern, text: str, counts: dict[str, int]) -> str:
    """Substitute every match; returns `text` itself (same object) if nothing changed.

    Markers from earlier patterns are never cut into or re-masked (idempotence);
    a match that contains a marker plus more text is masked whole, so the rest
    of e.g. `password=x/[REDACTED:github_token]` does not leak.
    """
    found = 0
    tag = marker(pattern.name)
    has_group = "secret" in pattern.regex.groupindex
    markers = [m.span() for m in _MARKER.finditer(text)] if "[REDACTED:" in text else []
    marker_ends = [me for _, me in markers]

    def replace(m: re.Match[str]) -> str:
        nonlocal found
        start, end = m.span("secret") if has_group else m.span()
        if start < 0 or start == end:
            return m.group()
        if markers:
            # Markers are sorted and disjoint: look only at those ending after `start`.
            i = bisect_right(marker_ends, start)
            overlaps = False
            while i < len(markers) and markers[i][0] < end:
                ms, me = markers[i]
                if ms < start or me > end:
                    return m.group()  # would cut a marker in two
                overlaps = True
                i += 1
            if overlaps and not _MARKER.sub("", m.string[start:end]).strip():
                return m.group()  # nothing but markers already
        found += 1
        whole_start, whole_end = m.span()
        return m.string[whole_start:start] + tag + m.string[end:whole_end]

    result = pattern.regex.sub(replace, text)
    if not found:
        return text
    counts[pattern.name] = counts.get(pattern.name, 0) + found
    return result


def _merge(into: dict[str, int], counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        into[kind] = into.get(kind, 0) + n


class RedactStage:
    """Masks title, description, label/annotation values and link URLs of every event.

    Label keys are never touched. An annotation whose key names a secret
    (`password`, `api_key`, ...) is masked whole. Each event that had something
    masked gets one Decision with the kinds, counts and field names, never a value.
    """

    name = "redact"

    def __init__(self, config: RedactionConfig | Config) -> None:
        redaction = config if isinstance(config, RedactionConfig) else config.redaction
        self.enabled = redaction.enabled
        self.redactor = Redactor(redaction)

    def run(self, batch: Batch, ctx: Context) -> StageResult:
        if self.enabled:
            for event in batch.events:
                self.redact_event(event)
        return StageResult(batch)

    def redact_event(self, event: Event) -> bool:
        """Mask one event in place; True if anything was masked."""
        r = self.redactor
        cands = r.candidates(_joined(event))
        if not cands:
            return False
        kinds: dict[str, int] = {}
        fields: list[str] = []

        def apply(field: str, key: str | None, result: tuple[str, dict[str, int]]) -> str:
            text, counts = result
            if counts:
                _merge(kinds, counts)
                fields.append(field if key is None else f"{field}.{key}")
            return text

        event.title = apply("title", None, r.redact(event.title, cands))
        event.description = apply("description", None, r.redact(event.description, cands))
        labels, annotations, links = event.labels, event.annotations, event.links
        for key, value in list(labels.items()):
            labels[key] = apply("labels", key, r.redact(value, cands))
        for key, value in list(annotations.items()):
            annotations[key] = apply("annotations", key, r.redact_keyed(key, value, cands))
        for key, value in list(links.items()):
            links[key] = apply("links", key, r.redact(value, cands))
        if not kinds:
            return False
        event.decisions.append(
            Decision(
                stage=self.name,
                outcome="masked",
                subject=event.id,
                inputs={"kinds": kinds, "fields": fields},
            )
        )
        return True


def _joined(event: Event) -> str:
    """All the text of an event in one string, for the prefilter (annotation keys
    included: a secret-named key masks its value)."""
    parts: list[str] = [event.title, event.description]
    parts.extend(event.labels.values())
    parts.extend(event.annotations)
    parts.extend(event.annotations.values())
    parts.extend(event.links.values())
    return "\n".join(parts)
