"""Executors by name, opened on first use and closed together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from ..executors import open_executor
from ..executors.base import Executor
from ..executors.http import HttpExecutor
from ..executors.routed import RoutedExecutor


class ExecutorPool:
    """Gives the executor a run asks for ("" means the pool's default), paired with the one
    HTTP executor of the pool: HTTP nodes send their requests whatever the run's executor."""

    def __init__(
        self,
        default: str = "local",
        options: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        http_allow: str | None = None,
    ) -> None:
        """`http_allow`: hosts HTTP nodes may call ("a,b"); None: `$EXITFLOW_HTTP_ALLOW`, and
        without it any host (see engine.executors.http)."""
        self.default = default
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._open: dict[str, Executor] = {}
        self._routed: dict[str, RoutedExecutor] = {}
        self.http = HttpExecutor.from_env(http_allow)
        self._lock = anyio.Lock()

    async def get(self, name: str = "") -> Executor:
        name = name or self.default
        routed = self._routed.get(name)
        if routed is not None:
            return routed
        async with self._lock:
            executor = self._open.get(name)
            if executor is None:
                executor = await open_executor(name, **self._options.get(name, {}))
                self._open[name] = executor
            routed = self._routed.setdefault(name, RoutedExecutor(executor, self.http))
        return routed

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for executor in self._open.values():
                await executor.aclose()
            await self.http.aclose()
        self._open.clear()
        self._routed.clear()
