"""Sink types by name, from a literal list: registering does no I/O."""

from __future__ import annotations

from autoticket.sinks.base import Sink
from autoticket.sinks.builtin import BuiltinSink
from autoticket.sinks.email import EmailSink
from autoticket.sinks.github import GitHubSink
from autoticket.sinks.jira import JiraSink
from autoticket.sinks.pagerduty import PagerDutySink
from autoticket.sinks.redmine import RedmineSink
from autoticket.sinks.release_action import ReleaseActionSink
from autoticket.sinks.servicenow import ServiceNowSink
from autoticket.sinks.slack import SlackSink
from autoticket.sinks.webhook import WebhookSink

__all__ = ["SINK_TYPES"]

SINK_TYPES: dict[str, type[Sink] | type[BuiltinSink]] = {
    cls.type: cls
    for cls in (
        BuiltinSink,
        WebhookSink,
        RedmineSink,
        PagerDutySink,
        SlackSink,
        EmailSink,
        JiraSink,
        ServiceNowSink,
        GitHubSink,
        ReleaseActionSink,
    )
}
