"""A real aiohttp server on 127.0.0.1 that records every request, for the `http` template tests.

It runs in its own thread and event loop, so tests can drive `exitflow` in subprocesses while it
answers. Routes (every request is recorded first):

- `/ok`: 200, body `ok`;
- `/status/<code>`: that status, body `status <code>`;
- `/flaky/<n>`: 500 for the first n requests to this path, then 200 `recovered`;
- `/json`: 200 with a JSON body and a custom header `X-Answer: 42`;
- `/hang`: never answers (until the server stops);
- `/hold`: the first request with a given Idempotency-Key never answers; later ones get 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Recorder:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _loop: asyncio.AbstractEventLoop | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def seen(self, path: str) -> list[Seen]:
        with self._changed:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Seen]:
        """Block until `count` requests to `path` were received (AssertionError on timeout)."""
        with self._changed:
            ok = self._changed.wait_for(lambda: len(self.seen(path)) >= count, timeout)
        assert ok, f"{count} request(s) to {path} expected, got {len(self.seen(path))}"
        return self.seen(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        seen = Seen(request.method, request.path, dict(request.headers), body)
        with self._changed:
            self.requests.append(seen)
            self._counts[request.path] += 1
            count = self._counts[request.path]
            self._changed.notify_all()
        parts = request.path.strip("/").split("/")
        if parts[0] == "ok":
            return web.Response(text="ok")
        if parts[0] == "status":
            return web.Response(status=int(parts[1]), text=f"status {parts[1]}")
        if parts[0] == "flaky":
            if count <= int(parts[1]):
                return web.Response(status=500, text="boom")
            return web.Response(text="recovered")
        if parts[0] == "json":
            return web.json_response({"answer": 42}, headers={"X-Answer": "42"})
        if parts[0] == "hang":
            await asyncio.Event().wait()
        if parts[0] == "hold":
            key = request.headers.get("Idempotency-Key", "")
            same = [r for r in self.seen(request.path) if r.headers.get("Idempotency-Key") == key]
            if len(same) == 1:
                await asyncio.Event().wait()
            return web.Response(text="held then done")
        return web.Response(status=404, text="no such route")


@contextlib.contextmanager
def serve() -> Iterator[Recorder]:
    """Start a recording server on 127.0.0.1 (a free port) in a thread; stop it on exit."""
    recorder = Recorder()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: dict[str, Any] = {}

    async def start() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", recorder._handle)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, recorder.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        recorder.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        runner_box["runner"] = runner

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="recording-http-server", daemon=True)
    thread.start()
    assert started.wait(30), "the recording server did not start"
    recorder._loop = loop
    try:
        yield recorder
    finally:
        stop = asyncio.run_coroutine_threadsafe(runner_box["runner"].cleanup(), loop)
        with contextlib.suppress(Exception):
            stop.result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
