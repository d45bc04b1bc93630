"""Caps on what one event carries: label names and values, label count, text length.

Normalize applies them to every parsed event, so no later stage (redaction,
routing regexes, storage, a ticket) ever sees a 90 KB label. Nothing refuses
the delivery: an Alertmanager notification is one group, and losing a whole
group over one odd label would be worse. A value past its cap is cut and ends
with a marker saying how long it was; a label past the count, or whose name is
too long to be one a route could name, is dropped. The event gets a
`normalize`/`capped` decision listing what was cut, which `explain` shows; the
raw body stays whole in the inbox, for replay. Lengths are in characters:
`len()` is free, where a byte count would encode every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoticket.model import Decision, Event

if TYPE_CHECKING:
    from autoticket.config import IngestConfig

__all__ = ["EventLimits", "cap_event", "truncated"]

# Labels the pipeline itself reads: kept first when an event has too many.
_KEPT_FIRST = ("alertname", "severity", "service", "job", "environment", "env", "team")
# How much of each cut or dropped item the decision lists (it is stored with the event).
_LISTED_MAX = 20
_LISTED_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class EventLimits:
    label_name: int = 128
    label_value: int = 4096
    labels: int = 64
    text: int = 16384  # annotation values, title, description, links

    @classmethod
    def of(cls, ingest: IngestConfig) -> EventLimits:
        return cls(
            ingest.max_label_name_length,
            ingest.max_label_value_length,
            ingest.max_labels,
            ingest.max_annotation_length,
        )


def truncated(value: str, cap: int) -> str:
    """`value` cut so that, with its marker, it is `cap` characters long."""
    marker = f"…[truncated: {len(value)} chars]"
    return value[: max(0, cap - len(marker))] + marker


def _within(event: Event, limits: EventLimits) -> bool:
    """The common case, checked cheaply: nothing to cut."""
    labels = event.labels
    if len(labels) > limits.labels:
        return False
    name_cap, value_cap = limits.label_name, limits.label_value
    for name, value in labels.items():
        if len(value) > value_cap or len(name) > name_cap:
            return False
    text_cap = limits.text
    if len(event.title) > text_cap or len(event.description) > text_cap:
        return False
    for values in (event.annotations, event.links):
        for value in values.values():
            if len(value) > text_cap:
                return False
    return True


def cap_event(event: Event, limits: EventLimits) -> bool:
    """Apply the caps to `event` in place; True (and a decision) if anything was cut."""
    if _within(event, limits):
        return False
    cut: list[str] = []
    dropped: list[str] = []
    event.labels = _capped_labels(event.labels, limits, cut, dropped)
    text_cap = limits.text
    if len(event.title) > text_cap:
        event.title = truncated(event.title, text_cap)
        cut.append("title")
    if len(event.description) > text_cap:
        event.description = truncated(event.description, text_cap)
        cut.append("description")
    event.annotations = _capped_values(event.annotations, text_cap, "annotations", cut)
    event.links = _capped_values(event.links, text_cap, "links", cut)
    inputs: dict[str, object] = {
        "limits": {
            "max_label_name_length": limits.label_name,
            "max_label_value_length": limits.label_value,
            "max_labels": limits.labels,
            "max_annotation_length": limits.text,
        }
    }
    if cut:
        inputs["truncated"] = _listed(cut)
        inputs["truncated_count"] = len(cut)
    if dropped:
        inputs["dropped"] = _listed(dropped)
        inputs["dropped_count"] = len(dropped)
    event.decisions.append(
        Decision(stage="normalize", outcome="capped", subject=event.id, inputs=inputs)
    )
    return True


def _capped_labels(
    labels: dict[str, str], limits: EventLimits, cut: list[str], dropped: list[str]
) -> dict[str, str]:
    names = [n for n in labels if len(n) <= limits.label_name]
    dropped.extend(f"labels.{n}" for n in labels if len(n) > limits.label_name)
    if len(names) > limits.labels:
        first = [n for n in _KEPT_FIRST if n in labels and len(n) <= limits.label_name]
        rest = [n for n in names if n not in _KEPT_FIRST]
        keep = first + rest[: limits.labels - len(first)]
        dropped.extend(f"labels.{n}" for n in rest[limits.labels - len(first) :])
        names = keep
    out: dict[str, str] = {}
    for name in names:
        value = labels[name]
        if len(value) > limits.label_value:
            value = truncated(value, limits.label_value)
            cut.append(f"labels.{name}")
        out[name] = value
    return out


def _capped_values(values: dict[str, str], cap: int, field: str, cut: list[str]) -> dict[str, str]:
    if all(len(v) <= cap for v in values.values()):
        return values
    out: dict[str, str] = {}
    for key, value in values.items():
        if len(value) > cap:
            value = truncated(value, cap)
            cut.append(f"{field}.{key}")
        out[key] = value
    return out


def _listed(items: list[str]) -> list[str]:
    shown = items[:_LISTED_MAX]
    return [s if len(s) <= _LISTED_NAME_MAX else s[: _LISTED_NAME_MAX - 1] + "…" for s in shown]
