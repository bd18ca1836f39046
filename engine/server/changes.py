"""One poller of the database for the whole server: new events feed the metrics and wake the
live streams (SSE). Works the same beside a daemon or in a separate `exitflow server` process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio

from ..errors import StoreError
from ..store import GlobalEvent, SqliteStore

#: How often the database is asked whether anything changed (seconds).
POLL_INTERVAL = 0.1
BATCH = 5_000


class Subscription:
    """The uids changed since the subscriber last looked (bursts merge into one set)."""

    def __init__(self) -> None:
        self.changed: set[str] = set()
        self._wake = asyncio.Event()

    def notify(self, uids: set[str]) -> None:
        self.changed |= uids
        self._wake.set()

    async def next(self, timeout: float) -> set[str]:
        """The changed uids, or an empty set after `timeout` seconds of quiet."""
        with anyio.move_on_after(timeout):
            await self._wake.wait()
        self._wake.clear()
        out, self.changed = self.changed, set()
        return out


class Changes:
    def __init__(self, store: SqliteStore, *, interval: float = POLL_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self.gseq = 0
        self.listeners: list[Callable[[list[GlobalEvent]], None]] = []
        self.subscribers: set[Subscription] = set()
        #: Set once the log present at start has been read (metrics are complete from then on).
        self.caught_up = asyncio.Event()
        #: The last store error while polling ("" when the last poll worked).
        self.error = ""

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    async def poll_once(self) -> None:
        while True:
            batch = await self.store.events_since(self.gseq, limit=BATCH)
            if not batch:
                return
            self.gseq = batch[-1].gseq
            for listener in self.listeners:
                listener(batch)
            uids = {e.uid for e in batch}
            for sub in list(self.subscribers):
                sub.notify(uids)
            if len(batch) < BATCH:
                return

    async def run(self) -> None:
        """Poll until cancelled. A store error (say, the database busy) is kept in `error` (shown
        by /api/v1/info) and retried: the UI never takes a controller down with it."""
        token: int | None = None
        while True:
            try:
                now = await self.store.change_token()
                if now != token:
                    await self.poll_once()
                    token = now
                    self.caught_up.set()
                self.error = ""
            except StoreError as e:
                self.error = str(e).splitlines()[0] if str(e) else type(e).__name__
            await anyio.sleep(self.interval)
