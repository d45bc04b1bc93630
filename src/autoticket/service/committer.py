"""Group commit for ingest: requests arriving together share one transaction.

Handlers hand their delivery to a single writer thread and await a future;
the thread drains everything queued, writes it in one transaction, commits
(one fsync for the lot) and then resolves every future. A 2xx is therefore
only ever sent for a body that is on disk. If the group transaction fails,
its items are retried one transaction each, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from autoticket.model import DeadLetter, Delivery
from autoticket.store import inbox as inbox_store
from autoticket.store.dead_letters import add_dead_letters
from autoticket.store.outage import is_unavailable

__all__ = ["GroupCommitter"]

log = logging.getLogger("autoticket.ingest")


@dataclass(slots=True)
class _Item:
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    delivery: Delivery | None = None
    event_count: int = 0
    dead_letter: DeadLetter | None = None
    status_code: int | None = None


class GroupCommitter:
    def __init__(
        self, engine: Engine, on_commit: Callable[[], None] | None = None, max_batch: int = 2000
    ) -> None:
        self.engine = engine
        self.on_commit = on_commit
        self.max_batch = max_batch
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ingest-commit", daemon=True)
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    async def append(self, delivery: Delivery, event_count: int) -> None:
        await self._submit(_Item(*self._future(), delivery=delivery, event_count=event_count))

    async def dead_letter(self, item: DeadLetter, status_code: int) -> int:
        result = await self._submit(
            _Item(*self._future(), dead_letter=item, status_code=status_code)
        )
        return int(result)

    @staticmethod
    def _future() -> tuple[asyncio.Future[Any], asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        return loop.create_future(), loop

    async def _submit(self, item: _Item) -> Any:
        self._queue.put(item)
        return await item.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            items = [first]
            stop = False
            while len(items) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            self._write(items)
            if stop:
                return

    def _write(self, items: list[_Item]) -> None:
        """Commit `items` in one transaction; if that fails, each in its own.

        The fast path is one transaction (one fsync) for the whole group. A
        failure there may come from a single bad item, so the items are then
        retried one by one: only the waiters whose own item fails get the
        exception, the others get their commit.
        """
        try:
            results = self._commit(items)
        except Exception as exc:
            if len(items) == 1 or is_unavailable(exc):
                # Unreachable, the database fails every item alike: no point trying
                # each alone. The waiters answer 503 and their senders retry.
                for item in items:
                    self._resolve(item, exc=exc)
                return
            log.warning(
                "group commit of %d items failed (%s); retrying them one by one",
                len(items),
                type(exc).__name__,
            )
            committed = 0
            for item in items:
                try:
                    [result] = self._commit([item])
                except Exception as item_exc:
                    self._resolve(item, exc=item_exc)
                else:
                    committed += 1
                    self.batches += 1
                    self.items += 1
                    self._resolve(item, result)
            if committed and self.on_commit is not None:
                self.on_commit()
            return
        self.batches += 1
        self.items += len(items)
        for item, result in zip(items, results, strict=True):
            self._resolve(item, result)
        if self.on_commit is not None:
            self.on_commit()

    def _commit(self, items: list[_Item]) -> list[Any]:
        """Write `items` in one transaction; the result of each (a dead letter id or None)."""
        results: list[Any] = []
        with self.engine.begin() as conn:
            inbox_store.append(
                conn, [(i.delivery, i.event_count) for i in items if i.delivery is not None]
            )
            for i in items:
                if i.dead_letter is not None:
                    results.append(add_dead_letters(conn, [i.dead_letter], i.status_code)[0])
                else:
                    results.append(None)
        return results

    @staticmethod
    def _resolve(item: _Item, result: Any = None, exc: BaseException | None = None) -> None:
        try:
            if exc is None:
                item.loop.call_soon_threadsafe(_succeed, item.future, result)
            else:
                item.loop.call_soon_threadsafe(_fail, item.future, exc)
        except RuntimeError:
            # The waiter's event loop is gone (client and server shutting down);
            # its delivery is stored all the same. The writer thread must live on.
            pass


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
