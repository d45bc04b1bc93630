"""Ticket sinks, registered by name from a literal list (registering does no I/O)."""

from autoticket.sinks.base import OutboxItem, SinkResult, TransactionalSink
from autoticket.sinks.builtin import BuiltinSink

__all__ = ["SINKS", "BuiltinSink", "OutboxItem", "SinkResult", "TransactionalSink"]

SINKS: dict[str, type[BuiltinSink]] = {cls.name: cls for cls in (BuiltinSink,)}
