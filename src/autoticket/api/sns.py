"""Amazon SNS at ingest: the message signature, and subscription confirmation.

`sources.cloudwatch.sns` in the config turns this on (docs/sources/cloudwatch.md).
The signature is checked against the configured PEM certificate(s); a
certificate is downloaded from the message's SigningCertURL only when the
operator set `fetch_certificate: true` and the URL's origin is in
`allowed_hosts` (default `https://sns.*.amazonaws.com`). A refused message is
a 401 like any other source-auth failure (counted, not kept). After a good
signature, a SubscriptionConfirmation is logged with its SubscribeURL, or,
with `auto_confirm: true` and an allowed origin, confirmed by a GET.
A message signed by a certificate outside its validity, or whose Timestamp
is older than `max_age` (a replayed capture) or in the future, is refused too.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from cryptography import x509
from fastapi import Request

from autoticket.api.source_auth import refuse
from autoticket.config import Config, SnsConfig
from autoticket.sources.signature import SignatureError
from autoticket.sources.sns import check_timestamp, verify_message

__all__ = ["check_sns_signature", "confirm_subscription", "origin_allowed"]

log = logging.getLogger("autoticket.api.sns")

MAX_CERT_BYTES = 64 * 1024
FETCH_TIMEOUT = 10.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Certificates by file (path, mtime, size) and by downloaded URL; both small.
_FILES: dict[tuple[str, int, int], list[x509.Certificate]] = {}
_FETCHED: dict[str, list[x509.Certificate]] = {}
_MAX_FETCHED = 32


def _pattern(allowed: str) -> re.Pattern[str]:
    """`https://sns.*.amazonaws.com` as a regex: `*` is one DNS label (or a port)."""
    parts = (re.escape(p) for p in allowed.lower().split("*"))
    return re.compile("[a-z0-9-]+".join(parts))


def origin_allowed(url: str, allowed: list[str]) -> bool:
    """Whether `url`'s origin (`scheme://host[:port]`, default port left out) is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return False
    origin = f"{scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        origin += f":{port}"
    return any(_pattern(a).fullmatch(origin) for a in allowed)


def _sns_config(request: Request, source: str) -> SnsConfig | None:
    config: Config = request.app.state.runtime.config
    entry = config.sources.get(source)
    return entry.sns if entry is not None else None


def _configured(path: Path) -> list[x509.Certificate]:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _FILES:
        _FILES.clear()  # a changed file replaces what was read before
        _FILES[key] = x509.load_pem_x509_certificates(path.read_bytes())
    return _FILES[key]


async def _fetched(url: str) -> list[x509.Certificate]:
    if url in _FETCHED:
        return _FETCHED[url]
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url)
    if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
        raise SignatureError(f"could not fetch SigningCertURL (HTTP {response.status_code})")
    certificates = x509.load_pem_x509_certificates(response.content)
    if len(_FETCHED) >= _MAX_FETCHED:
        _FETCHED.clear()
    _FETCHED[url] = certificates
    return certificates


async def _certificates(sns: SnsConfig, message: dict[str, Any]) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    if sns.certificate is not None:
        try:
            found += _configured(sns.certificate)
        except (OSError, ValueError) as exc:
            # The operator's mistake, not the sender's: log it, refuse the message.
            log.error("sources.cloudwatch.sns.certificate %s is unusable: %s", sns.certificate, exc)
            raise SignatureError("the configured SNS certificate cannot be read") from None
    if sns.fetch_certificate:
        url = message.get("SigningCertURL")
        if type(url) is not str or not url:
            raise SignatureError("missing SigningCertURL")
        if not origin_allowed(url, sns.allowed_hosts) or not url.lower().endswith(".pem"):
            raise SignatureError(
                f"SigningCertURL {url[:200]!r} is not an allowed certificate location "
                f"(sns.allowed_hosts: {', '.join(sns.allowed_hosts)})"
            )
        try:
            found += await _fetched(url)
        except (httpx.HTTPError, ValueError) as exc:
            raise SignatureError(f"could not fetch SigningCertURL: {exc}") from None
    return found


async def check_sns_signature(request: Request, source: str, body: bytes) -> dict[str, Any] | None:
    """The verified SNS message when `sources.<source>.sns` is set; else None.

    Raises the 401 ApiError (counted, reason `bad_signature`) for a message
    that is not JSON, is not signed, or is signed by no trusted certificate.
    """
    sns = _sns_config(request, source)
    if sns is None:
        return None
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise refuse(
            request, source, "bad_signature", "body is not a signed SNS message (not JSON)", "body"
        ) from None
    try:
        if type(message) is not dict:
            raise SignatureError("body is not a signed SNS message (not a JSON object)")
        now = request.app.state.runtime.clock.now()
        verify_message(message, await _certificates(sns, message), at=now)
        check_timestamp(message, now, sns.max_age)
    except SignatureError as exc:
        raise refuse(request, source, "bad_signature", str(exc), "Signature") from None
    return message


async def confirm_subscription(
    request: Request, source: str, message: dict[str, Any]
) -> dict[str, Any] | None:
    """For a verified SubscriptionConfirmation: confirm it (auto_confirm) or log the link.

    Returns what the ingest answer says about it; None for other messages.
    The delivery is stored either way, so a failed GET loses nothing: the
    operator can still open the link.
    """
    if message.get("Type") != "SubscriptionConfirmation":
        return None
    sns = _sns_config(request, source)
    url = str(message.get("SubscribeURL", ""))
    topic = str(message.get("TopicArn", ""))
    if sns is None or not sns.auto_confirm:
        log.warning("SNS subscription to %s awaits confirmation: open %s", topic, url)
        return {"confirmed": False, "reason": "auto_confirm is off; open subscribe_url"}
    if not origin_allowed(url, sns.allowed_hosts):
        log.warning("SNS SubscribeURL %s is not in sns.allowed_hosts; not confirmed", url)
        return {"confirmed": False, "reason": "SubscribeURL origin is not in sns.allowed_hosts"}
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        log.warning("SNS subscription to %s: confirming failed: %s", topic, exc)
        return {"confirmed": False, "reason": f"GET SubscribeURL failed: {exc}"}
    if response.status_code != 200:
        log.warning("SNS subscription to %s: SubscribeURL answered %s", topic, response.status_code)
        return {"confirmed": False, "reason": f"SubscribeURL answered {response.status_code}"}
    log.info("SNS subscription to %s confirmed", topic)
    return {"confirmed": True}
