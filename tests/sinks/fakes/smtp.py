"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives.

`Inbox` is the handler: tell it which replies to give (`data_replies`, a
queue for DATA such as a 451 then nothing; `refuse`, per recipient) and read
`messages` (envelope sender, recipients, parsed message with LF line ends).
Logins succeed with `PASSWORD`.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD = "smtp-pa55word"


@dataclass
class Inbox:
    """What the SMTP server received, and the replies it is told to give."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    data_replies: deque[str] = field(default_factory=deque)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> reply
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        raw = envelope.content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def reset(self) -> None:
        self.messages.clear()
        self.data_replies.clear()
        self.refuse.clear()
        self.logins.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(inbox: Inbox) -> tuple[Controller, int]:
    """A started server for `inbox` on a free port of 127.0.0.1 (stop it with `.stop()`)."""
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    return controller, port
