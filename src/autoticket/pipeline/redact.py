"""The redact stage: mask secrets in event text before anything stores or forwards it.

Secrets are replaced by `[REDACTED:<kind>]`; the context around them (the key
name, the URL user and host, the auth scheme) is kept so a ticket still reads.
Runs on every event, so the common case, no secret at all, is one keyword scan
over the event's joined text (see `secret_patterns` for the prefilter contract).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from typing import TYPE_CHECKING

from autoticket.config import RedactionConfig
from autoticket.model import Decision, Event
from autoticket.pipeline.base import Batch, Context, StageResult
from autoticket.pipeline.secret_keys import KEY_KINDS, key_rule, looks_random
from autoticket.pipeline.secret_patterns import (
    BUILTIN_PATTERNS,
    PATTERN_KINDS,
    SecretPattern,
)
from autoticket.regex import ConfigRegex, compile_config_regex

if TYPE_CHECKING:
    from autoticket.config import Config

__all__ = ["BUILTIN_KINDS", "RedactStage", "Redactor", "compile_custom", "marker"]

BUILTIN_KINDS: frozenset[str] = PATTERN_KINDS | KEY_KINDS
# Label keys that, in common exporters, hold the *name* of a secret, not the
# secret (kube-state-metrics `secret="db-creds"`): masked only if random-looking.
_NAME_LABELS = frozenset({"secret"})
# The fingerprint column's width (store/tables.py, pipeline/normalize.py).
_MAX_FINGERPRINT = 64

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
            SecretPattern(p.name, compile_custom(p.regex), None) for p in config.patterns
        )
        self.patterns: tuple[SecretPattern, ...] = (
            tuple(p for p in BUILTIN_PATTERNS if p.name not in off) + custom
        )
        self._always = 0  # patterns without keywords nor prefilter: always candidates
        # Patterns whose keyword may be anywhere in the event, not only in the field.
        self._context = sum(1 << i for i, p in enumerate(self.patterns) if p.context)
        screened: list[tuple[int, ConfigRegex]] = []  # custom: RE2's own prefilter
        table: dict[str, int] = {}
        for i, p in enumerate(self.patterns):
            if p.keywords is None:
                if isinstance(p.regex, ConfigRegex):
                    screened.append((1 << i, p.regex))
                else:
                    self._always |= 1 << i
            for k in p.keywords or ():
                # Case-folded even for case-sensitive keywords: a superset, one scan each.
                table[k.casefold()] = table.get(k.casefold(), 0) | 1 << i
        self._screened = tuple(screened)
        self._keywords = _fewest_scans(table)
        self.always = bool(self._always)
        self._off = frozenset(off)
        self._selected: dict[int, tuple[SecretPattern, ...]] = {}

    def candidates(self, text: str) -> int:
        """Bitmask of the patterns that may match somewhere in `text` (0: nothing can)."""
        return self.candidates_among(text, self._keywords)

    def screened(self, text: str) -> int:
        """The custom (RE2) patterns whose literal prefilter passes on `text`.

        RE2's Python wrapper is slow per call, so an event runs this once, on
        all its text joined, and hands the result to `candidates_among`.
        """
        mask = 0
        for bit, regex in self._screened:
            if regex.may_match(text):
                mask |= bit
        return mask

    def keyword_hits(self, text: str) -> tuple[tuple[str, int], ...]:
        """The prefilter keywords found in `text`, with the patterns each may trigger."""
        lowered = _unmarked(text).casefold()
        return tuple(kb for kb in self._keywords if kb[0] in lowered)

    def candidates_among(
        self,
        text: str,
        hits: tuple[tuple[str, int], ...],
        screened: int | None = None,
        in_event: bool = False,
    ) -> int:
        """`candidates(text)`, looking only for `hits` (those of a text containing this one).

        `screened` is `screened()` of a text containing this one (None: of this text).
        With `in_event`, `hits` were found in the whole event `text` belongs to:
        a context pattern (the bare AWS secret key) is a candidate on every field
        then, as its keyword may sit in another field than the secret.
        """
        mask = self._always | (self.screened(text) if screened is None else screened)
        if hits:
            lowered = _unmarked(text).casefold()
            for k, bits in hits:
                if k in lowered:
                    mask |= bits
                elif in_event:
                    mask |= bits & self._context
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
            if len(text) < pattern.min_len:
                continue
            if pattern.needs_sep and "=" not in text and ":" not in text:
                continue
            if pattern.keywords is not None and not pattern.context:
                if pattern.fold:
                    if lowered is None:
                        lowered = _unmarked(text).casefold()
                    hay = lowered
                else:
                    hay = _unmarked(text)
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

    def key_kind(self, key: str, label: bool = False) -> tuple[str, bool] | None:
        """(kind, strong) if `key` names a secret (`db_password` -> password), else None.

        A strong key's value is masked whole; a weak one's only if it looks random.
        """
        rule = key_rule(key)
        if rule is None or rule[0] in self._off:
            return None
        if label and rule[1] and key.casefold() in _NAME_LABELS:
            return rule[0], False
        return rule

    def redact_keyed(
        self, key: str, value: str, candidates: int | None = None, label: bool = False
    ) -> tuple[str, dict[str, int]]:
        """Like `redact`, but a value under a secret-named key is masked whole."""
        rule = self.key_kind(key, label)
        if rule is None or not value or _MARKER.fullmatch(value):
            return self.redact(value, candidates)
        kind, strong = rule
        if strong or looks_random(value):
            return marker(kind), {kind: 1}
        return self.redact(value, candidates)


def _fewest_scans(table: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """The keyword table with every keyword that contains a shorter one folded
    into it (`api_key` into `key`): wherever the longer is, the shorter is too,
    so one scan for the shorter tells both."""
    kept: dict[str, int] = {}
    for k in sorted(table, key=lambda k: (len(k), k)):
        inside = next((s for s in kept if s in k), None)
        if inside is None:
            kept[k] = table[k]
        else:
            kept[inside] |= table[k]
    return tuple(kept.items())


def compile_custom(regex: str) -> ConfigRegex:
    """Compile a `redaction.patterns` regex with RE2, in linear time whatever the input.

    The built-ins are Python `re`, compiled in secret_patterns. A pattern RE2
    cannot run is a RegexError (a ValueError) naming why.
    """
    return compile_config_regex(regex)


def _unmarked(text: str) -> str:
    """`text` without its markers, for the keyword scans: a marker's kind (`…_key`,
    `…secret…`) is not a keyword of the event, or redacting the output again
    would find what the first pass, rightly, did not (idempotence)."""
    return _MARKER.sub(" ", text) if "[REDACTED:" in text else text


def _mask(pattern: SecretPattern, text: str, counts: dict[str, int]) -> str:
    """Substitute every match; returns `text` itself (same object) if nothing changed.

    Markers from earlier patterns are never cut into or re-masked (idempotence);
    a match that contains a marker plus more text is masked whole, so the rest
    of e.g. `password=x/[REDACTED:github_token]` does not leak.
    """
    if pattern.regex.search(text) is None:  # the common case: no callback set-up at all
        return text
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
        if pattern.accept is not None and not pattern.accept(m.string[start:end]):
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
        joined = _joined(event)
        hits = r.keyword_hits(joined)
        screened = r.screened(joined)
        labels, annotations, links = event.labels, event.annotations, event.links
        if (
            not hits
            and not screened
            and not r.always
            and not any(map(key_rule, labels))
            and not any(map(key_rule, annotations))
        ):
            return False
        kinds: dict[str, int] = {}
        fields: list[str] = []

        def masked(field: str, key: str | None, value: str) -> str:
            cands = r.candidates_among(value, hits, screened, in_event=True)
            if key is None or field == "links":
                if not cands:
                    return value
                text, counts = r.redact(value, cands)
            elif not cands and key_rule(key) is None:
                return value
            else:
                text, counts = r.redact_keyed(key, value, cands, label=field == "labels")
            if counts:
                _merge(kinds, counts)
                fields.append(field if key is None else f"{field}.{key}")
            return text

        event.title = masked("title", None, event.title)
        event.description = masked("description", None, event.description)
        for key, value in list(labels.items()):
            labels[key] = masked("labels", key, value)
        for key, value in list(annotations.items()):
            annotations[key] = masked("annotations", key, value)
        for key, value in list(links.items()):
            links[key] = masked("links", key, value)
        event.fingerprint = _fingerprint(masked("fingerprint", None, event.fingerprint))
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


def _fingerprint(masked: str) -> str:
    """A fingerprint (a caller's, from the generic source) after masking: if the
    markers made it too long for its column, its hash (of the masked text)."""
    if len(masked) <= _MAX_FINGERPRINT:
        return masked
    return hashlib.sha256(masked.encode()).hexdigest()[:32]


def _joined(event: Event) -> str:
    """All the text of an event in one string, for the prefilter."""
    # Alertmanager's title is the summary annotation, its description and
    # runbook link annotations too: each such text is scanned once.
    notes = event.annotations.values()
    parts: list[str] = [event.fingerprint, *event.labels.values(), *notes]
    if event.title not in notes:
        parts.append(event.title)
    if event.description not in notes:
        parts.append(event.description)
    parts.extend(v for v in event.links.values() if v not in notes)
    return "\n".join(parts)
