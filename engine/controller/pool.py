"""Executors by name, opened on first use and closed together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from ..executors import open_executor
from ..executors.base import Executor


class ExecutorPool:
    """Gives the executor a run asks for ("" means the pool's default)."""

    def __init__(
        self, default: str = "local", options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self.default = default
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._open: dict[str, Executor] = {}
        self._lock = anyio.Lock()

    async def get(self, name: str = "") -> Executor:
        name = name or self.default
        executor = self._open.get(name)
        if executor is not None:
            return executor
        async with self._lock:
            executor = self._open.get(name)
            if executor is None:
                executor = await open_executor(name, **self._options.get(name, {}))
                self._open[name] = executor
        return executor

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for executor in self._open.values():
                await executor.aclose()
        self._open.clear()
