"""What every handler of one server shares."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..store import SqliteStore
from .changes import Changes
from .metrics import Metrics
from .views import Views


@dataclass(slots=True)
class ServerState:
    store: SqliteStore
    views: Views
    changes: Changes
    metrics: Metrics
    token: str
    #: Non-loopback listen: reads (API, metrics) need the token as well as writes.
    reads_need_token: bool
    #: Served by a controller (`exitflow daemon --listen`), so submissions run here.
    controller: bool


STATE: web.AppKey[ServerState] = web.AppKey("state", ServerState)
