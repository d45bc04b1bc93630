"""Ticket sinks, registered by name from a literal list (registering does no I/O).

`SINK_TYPES` maps a config `type:` to its class; `build_sinks` turns the
config's `sinks:` map into sink objects. The built-in store is transactional
(`Dispatcher`); the others are called by the `ExternalDispatcher`.
"""

from autoticket.sinks.base import (
    NoSettings,
    OutboxItem,
    RemoteChange,
    Sink,
    SinkResult,
    TransactionalSink,
)
from autoticket.sinks.build import build_sinks, check_sinks, external_sinks, transactional_sinks
from autoticket.sinks.builtin import BuiltinSink
from autoticket.sinks.external import ExternalDispatcher
from autoticket.sinks.outbox import Dispatcher
from autoticket.sinks.registry import SINK_TYPES
from autoticket.sinks.webhook import WebhookSink

__all__ = [
    "SINK_TYPES",
    "BuiltinSink",
    "Dispatcher",
    "ExternalDispatcher",
    "NoSettings",
    "OutboxItem",
    "RemoteChange",
    "Sink",
    "SinkResult",
    "TransactionalSink",
    "WebhookSink",
    "build_sinks",
    "check_sinks",
    "external_sinks",
    "transactional_sinks",
]
