"""Assembly of the aiohttp application, its security middleware, and listening.

Security: loopback by default; writes always need the bearer token, and reads too when the
server listens beyond loopback; a Content-Security-Policy that allows only our own scripts and
styles; request bodies over MAX_BODY are refused with 413 before they are read; errors are one
line of JSON, never a traceback.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from aiohttp import web

from ..errors import (
    ConflictError,
    ExitflowError,
    InputError,
    StoreError,
    WorkflowNotFoundError,
)
from ..store import SqliteStore
from . import routes, sse, static
from .auth import check_bearer, is_loopback
from .changes import Changes
from .metrics import Metrics
from .state import STATE, ServerState
from .views import Views

DEFAULT_LISTEN = "127.0.0.1:2746"
#: Largest request body accepted (a workflow is a few kB; 10 MB is refused).
MAX_BODY = 1024 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    token: str

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (loopback). InputError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InputError(f"--listen {text!r}: expected HOST:PORT, like 127.0.0.1:2746")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _error(status: int, message: str) -> web.Response:
    return web.Response(text=json.dumps({"code": status, "message": message}), status=status,
                        content_type="application/json")


_STATUS = ((WorkflowNotFoundError, 404), (InputError, 400), (ConflictError, 409),
           (StoreError, 503))


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as e:
        response = _error(e.status, e.reason) if e.status >= 400 else e
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ExitflowError as e:
        status = next((s for cls, s in _STATUS if isinstance(e, cls)), 500)
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        return _error(status, text)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"request body too large (limit {MAX_BODY} bytes)")


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    path = request.path
    protected = request.method in WRITE_METHODS or (
        state.reads_need_token and (path.startswith("/api/") or path == "/metrics")
    )
    if not state.reads_need_token and not _loopback_host(request.host):
        # A loopback server answers only to loopback names: a page on another site that
        # rebinds its DNS name to 127.0.0.1 cannot read it.
        return _error(403, f"unexpected Host header {request.host!r} for a loopback server")
    if protected:
        problem = check_bearer(request.headers.get("Authorization"), state.token)
        if problem is not None:
            response = _error(401, problem)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, f"request body too large (limit {MAX_BODY} bytes)")
    return await handler(request)


def _loopback_host(host: str) -> bool:
    """Whether a Host header names a loopback address (`127.0.0.1:2746`, `[::1]:2746`,
    `localhost`)."""
    if host.startswith("["):
        return is_loopback(host[1:].split("]", 1)[0])
    return is_loopback(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)


def make_app(state: ServerState) -> web.Application:
    app = web.Application(middlewares=[_headers, _errors, _guard], client_max_size=MAX_BODY)
    app[STATE] = state
    app.add_routes(routes.routes)
    app.add_routes(sse.routes)
    app.add_routes(static.routes)
    return app


class Server:
    """Bind first (`start`, so a port in use is one clear error), then `run` until cancelled."""

    def __init__(self, store: SqliteStore, config: ServerConfig, *,
                 controller: bool = False) -> None:
        self.config = config
        metrics = Metrics()
        changes = Changes(store)
        changes.listeners.append(metrics.observe)
        self.state = ServerState(store=store, views=Views(store), changes=changes,
                                 metrics=metrics, token=config.token,
                                 reads_need_token=not config.loopback, controller=controller)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        runner = web.AppRunner(make_app(self.state), access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as e:
            await runner.cleanup()
            where = f"{self.config.host}:{self.config.port}"
            if e.errno == errno.EADDRINUSE:
                raise InputError(f"--listen {where}: address already in use") from None
            raise InputError(f"--listen {where}: {e.strerror or e}") from None
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        return self.url

    async def run(self) -> None:
        """Follow the database (metrics, live streams) until cancelled."""
        await self.state.changes.run()

    async def aclose(self) -> None:
        if self._runner is not None:
            with anyio.CancelScope(shield=True):
                await self._runner.cleanup()
            self._runner = None


async def serve(store: SqliteStore, config: ServerConfig, *,
                ready: Callable[[str], None] | None = None) -> None:
    """`exitflow server`: serve the API and UI of a database until cancelled."""
    server = Server(store, config)
    await server.start()
    try:
        if ready is not None:
            ready(server.url)
        await server.run()
    finally:
        await server.aclose()
