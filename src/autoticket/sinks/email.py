"""The `email` sink: one message per state change over SMTP (stdlib smtplib).

Messages of one incident form a thread: the open's `Message-ID` is the
incident's correlation key (`<autoticket-<ref>@domain>`), every later
message has its own id (the key plus its action's marker) and refers to the
open by `In-Reply-To` and `References`. SMTP cannot be asked what it has
already delivered, so a message whose answer was lost is sent again with the
same `Message-ID` (mail clients show such twins once, or side by side).

A 4xx reply or a connection problem is retried; a 5xx reply is final.
Reasons carry the reply code and the exception type, never the server's text.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from autoticket.config import Duration
from autoticket.sinks.base import OutboxItem, ProbeFailed, Sink, SinkResult
from autoticket.sinks.incident_key import action_marker, correlation_key

if TYPE_CHECKING:
    from autoticket.config import Config

__all__ = ["EmailSettings", "EmailSink", "message_of", "outcome_of_error"]

MAX_TITLE = 200
HEADINGS = {
    "open": "Opened",
    "reopen": "Reopened",
    "resolve": "Resolved",
    "update": "Updated",
}


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=5):
        raise ValueError("timeout must be more than 0s and at most 5m")
    return value


def _address(value: str) -> str:
    if "@" not in value or any(c.isspace() or c in '<>,;"' for c in value):
        raise ValueError(f"{value!r} is not a plain e-mail address (user@domain)")
    return value


Address = Annotated[str, AfterValidator(_address)]


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True  # upgrade a plain connection; refused if the server cannot
    ssl: bool = False  # TLS from the first byte (port 465); excludes starttls
    username: str | None = None
    password_env: str | None = Field(default=None, description="env var of the SMTP password")
    sender: Address = Field(alias="from")
    to: list[Address] | None = Field(default=None, min_length=1)
    public_url: HttpUrl | None = Field(default=None, description="autoticket's own base URL")
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=10)

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if self.ssl and self.starttls:
            raise ValueError("ssl and starttls exclude each other (set starttls: false)")
        if (self.username is None) != (self.password_env is None):
            raise ValueError("username and password_env go together")
        return self


def _clean(text: str, limit: int) -> str:
    """One header-safe line: no CR/LF or other control characters (header injection)."""
    line = "".join(c if c.isprintable() else " " for c in text).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _domain(settings: EmailSettings) -> str:
    return settings.sender.rsplit("@", 1)[1]


def thread_id(settings: EmailSettings, item: OutboxItem) -> str:
    """The open's Message-ID: every message of the incident replies to it."""
    return f"<{correlation_key(item)}@{_domain(settings)}>"


def message_id(settings: EmailSettings, item: OutboxItem) -> str:
    if item.action == "open":
        return thread_id(settings, item)
    return f"<{correlation_key(item)}.{action_marker(item)}@{_domain(settings)}>"


def message_of(settings: EmailSettings, item: OutboxItem, to: Sequence[str]) -> EmailMessage:
    p = item.payload
    kind = "acknowledged" if p.get("status") == "acknowledged" else item.action
    heading = "Acknowledged" if kind == "acknowledged" else HEADINGS.get(kind, kind)
    title = _clean(str(p.get("title") or f"incident {item.incident_id}"), MAX_TITLE)
    priority = _clean(str(p.get("priority") or "?"), 10)
    subject = f"[{priority}] {title} (autoticket #{item.incident_id})"
    msg = EmailMessage()
    msg["Subject"] = subject if item.action == "open" else f"Re: {subject}"
    msg["From"] = settings.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id(settings, item)
    if item.action != "open":
        msg["In-Reply-To"] = thread_id(settings, item)
        msg["References"] = thread_id(settings, item)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    reasons = ", ".join(str(r) for r in p.get("reasons") or [])
    lines = [f"{heading}." + (f" ({reasons})" if reasons else ""), ""]
    body = p.get("body")
    lines.append(body if isinstance(body, str) and body else str(p.get("title") or ""))
    if settings.public_url is not None:
        link = f"{str(settings.public_url).rstrip('/')}/incidents/{item.incident_id}"
        lines += ["", f"Incident: {link}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def outcome_of_error(exc: Exception) -> SinkResult:
    """4xx replies and connection problems retry; 5xx replies and local refusals are final."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        outcome = "retry" if codes and all(400 <= c < 500 for c in codes) else "permanent"
        return SinkResult(outcome, reason=f"SMTP {codes} recipients refused ({name})")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        outcome = "retry" if 400 <= code < 500 else "permanent"
        return SinkResult(outcome, reason=f"SMTP {code} ({name})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SinkResult("permanent", reason=f"server does not offer it ({name})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SinkResult("permanent", reason=f"TLS certificate not trusted ({name})")
    if isinstance(exc, TimeoutError):
        return SinkResult("retry", reason=f"timeout ({name})")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return SinkResult("retry", reason=f"connection failed ({name})")
    return SinkResult("permanent", reason=f"send failed ({name})")


class EmailSink(Sink):
    type: ClassVar[str] = "email"
    Settings: ClassVar[type[BaseModel]] = EmailSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team_emails: dict[str, str] = {}

    def use_config(self, config: Config) -> None:
        """Team → address from the catalog's contacts, for messages without `to`."""
        teams = config.catalog.teams
        self.team_emails = {name: t.email for name, t in teams.items() if t.email}

    def recipients(self, item: OutboxItem) -> list[str]:
        settings = self.settings
        assert isinstance(settings, EmailSettings)
        if settings.to:
            return list(settings.to)
        team = item.payload.get("team")
        found = self.team_emails.get(team) if isinstance(team, str) else None
        return [found] if found else []

    def probe(self) -> str:
        """Connect, EHLO, STARTTLS and log in as a send would, then quit: nothing is sent."""
        settings = self.settings
        assert isinstance(settings, EmailSettings)
        try:
            with self._connect(settings) as smtp:
                smtp.noop()
        except Exception as exc:  # every failure is reported, none raised
            reason = outcome_of_error(exc).reason
            raise ProbeFailed(f"SMTP {settings.host}:{settings.port}: {reason}") from None
        login = f", logged in as {settings.username}" if settings.username else ""
        tls = ", TLS" if settings.ssl or settings.starttls else ""
        return f"SMTP {settings.host}:{settings.port} answered{tls}{login}"

    def apply(self, item: OutboxItem) -> SinkResult:
        settings = self.settings
        assert isinstance(settings, EmailSettings)
        to = self.recipients(item)
        if not to:
            team = item.payload.get("team")
            reason = f"no recipient: `to` is not set and team {team!r} has no catalog email"
            return SinkResult("permanent", reason=reason)
        msg = message_of(settings, item, to)
        try:
            refused = self._send(settings, msg, to)
        except Exception as exc:  # classified: SMTP replies, sockets, TLS
            return outcome_of_error(exc)
        result = SinkResult("ok", external_ref=thread_id(settings, item))
        if settings.public_url is not None:
            result.url = f"{str(settings.public_url).rstrip('/')}/incidents/{item.incident_id}"
        if refused:
            result.reason = f"{len(refused)} of {len(to)} recipients refused"
        return result

    def _send(self, settings: EmailSettings, msg: EmailMessage, to: list[str]) -> dict[str, Any]:
        with self._connect(settings) as smtp:
            return dict(smtp.send_message(msg, settings.sender, to))

    def _connect(self, settings: EmailSettings) -> smtplib.SMTP:
        """A connection ready to send: TLS as configured, logged in when a user is set."""
        seconds = settings.timeout.total_seconds()
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.ssl:
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=seconds, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=seconds)
        try:
            if settings.starttls and not settings.ssl:
                smtp.starttls(context=context)
            if settings.username and settings.password_env:
                smtp.login(settings.username, self.secrets[settings.password_env])
        except BaseException:
            smtp.close()
            raise
        return smtp
