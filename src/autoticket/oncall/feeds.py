"""iCalendar feeds of on-call shifts: loaded from a file, or fetched from a URL and cached.

A URL is fetched on start and on demand (`refresh`), never while answering
who is on call: the answer reads the last copy, kept in memory and in the
cache folder (`AUTOTICKET_ONCALL_CACHE`, default `.autoticket-cache/oncall`),
so the service works offline and across restarts with the last good copy. A
failed fetch keeps that copy and says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import recurring_ical_events

from autoticket.oncall.settings import IcalFeed

__all__ = ["Calendars", "FeedError", "Shift", "cache_dir", "parse_calendar"]

log = logging.getLogger("autoticket.oncall")

# A feed larger than this is refused: a calendar of shifts is a few kilobytes.
MAX_FEED_BYTES = 5 * 1024 * 1024


class FeedError(ValueError):
    """A feed that cannot be read or parsed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Shift:
    user: str
    start: datetime
    end: datetime


def cache_dir() -> Path:
    return Path(os.environ.get("AUTOTICKET_ONCALL_CACHE", ".autoticket-cache/oncall"))


def _key(feed: IcalFeed) -> str:
    return feed.path or feed.url or ""


def parse_calendar(text: bytes | str, where: str) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise FeedError(f"{where}: not an iCalendar file ({exc})") from None


def _person(event: icalendar.Event, prefix: str) -> str:
    attendee = event.get("ATTENDEE")
    if isinstance(attendee, list):
        attendee = attendee[0] if attendee else None
    if attendee:
        text = str(attendee)
        return text[7:] if text.lower().startswith("mailto:") else text
    summary = str(event.get("SUMMARY", "")).strip()
    if prefix and summary.lower().startswith(prefix.lower()):
        summary = summary[len(prefix) :].strip()
    return summary


class Calendars:
    """The feeds' last good copies, by path or URL; thread-safe."""

    def __init__(self, client: httpx.Client | None = None, folder: Path | None = None) -> None:
        self._client = client
        self._folder = folder
        self._loaded: dict[str, icalendar.Calendar] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else cache_dir()

    def _cache_file(self, url: str) -> Path:
        return self.folder / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".ics")

    def error(self, feed: IcalFeed) -> str | None:
        """Why the feed's last load or fetch failed (None: it worked)."""
        return self._errors.get(_key(feed))

    def refresh(self, feed: IcalFeed) -> str | None:
        """Read the file or fetch the URL now; keep the last copy on failure. Returns the error."""
        key = _key(feed)
        try:
            calendar = self._read(feed)
        except FeedError as exc:
            log.warning("on-call feed: %s", exc)
            with self._lock:
                self._errors[key] = str(exc)
            if key not in self._loaded:
                self._load_cached(feed)
            return str(exc)
        with self._lock:
            self._loaded[key] = calendar
            self._errors.pop(key, None)
        return None

    def _read(self, feed: IcalFeed) -> icalendar.Calendar:
        if feed.path is not None:
            try:
                data = Path(feed.path).read_bytes()
            except OSError as exc:
                raise FeedError(f"{feed.path}: {exc.strerror or exc}") from None
            return parse_calendar(data, feed.path)
        assert feed.url is not None
        data = self._fetch(feed.url)
        calendar = parse_calendar(data, feed.url)
        target = self._cache_file(feed.url)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        except OSError as exc:
            log.warning("on-call feed %s: cannot cache (%s)", feed.url, exc)
        return calendar

    def _fetch(self, url: str) -> bytes:
        client = self._client or httpx.Client(timeout=10.0, follow_redirects=True)
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise FeedError(f"{url}: fetch failed ({type(exc).__name__})") from None
        finally:
            if self._client is None:
                client.close()
        if response.status_code != 200:
            raise FeedError(f"{url}: fetch answered HTTP {response.status_code}")
        if len(response.content) > MAX_FEED_BYTES:
            raise FeedError(f"{url}: larger than {MAX_FEED_BYTES} bytes")
        return response.content

    def _load_cached(self, feed: IcalFeed) -> None:
        """The copy a previous run fetched, when this one cannot fetch."""
        if feed.url is None:
            return
        try:
            data = self._cache_file(feed.url).read_bytes()
            calendar = parse_calendar(data, feed.url)
        except (OSError, FeedError):
            return
        with self._lock:
            self._loaded.setdefault(_key(feed), calendar)

    def calendar(self, feed: IcalFeed) -> icalendar.Calendar | None:
        """The last good copy; loaded now (file, or cached URL copy) if never loaded."""
        key = _key(feed)
        with self._lock:
            found = self._loaded.get(key)
        if found is None and key not in self._errors:
            if feed.path is not None:
                self.refresh(feed)
            else:
                self._load_cached(feed)
            with self._lock:
                found = self._loaded.get(key)
        return found

    def shift_at(self, feed: IcalFeed, at: datetime) -> Shift | None:
        """The feed's shift covering `at` (the latest started, when several do)."""
        calendar = self.calendar(feed)
        if calendar is None:
            return None
        found: Shift | None = None
        # `between` yields every occurrence overlapping the span, however long ago it began.
        events = recurring_ical_events.of(calendar).between(at, at + timedelta(seconds=1))
        for event in events:
            start, end = _bounds(event, at)
            # Compared in UTC: comparing two times of one zone ignores a DST fold.
            if start is None or end is None or not _utc(start) <= _utc(at) < _utc(end):
                continue
            user = _person(event, feed.summary_prefix)
            if user and (found is None or _utc(start) > _utc(found.start)):
                found = Shift(user, start, end)
        return found


def _bounds(event: icalendar.Event, at: datetime) -> tuple[datetime | None, datetime | None]:
    """An event's start and end as aware datetimes (floating times in `at`'s zone)."""
    values = []
    for name in ("DTSTART", "DTEND"):
        prop = event.get(name)
        value = prop.dt if prop is not None else None
        if isinstance(value, datetime):
            values.append(value if value.tzinfo else value.replace(tzinfo=at.tzinfo))
        elif value is not None:  # an all-day date
            values.append(datetime.combine(value, datetime.min.time(), tzinfo=at.tzinfo))
        else:
            values.append(None)
    start, end = values
    if start is not None and end is None:
        duration = event.get("DURATION")
        end = start + duration.dt if duration is not None else None
    return start, end


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
