"""Executors: how a Pod node's work is run (local processes, Docker, or simulated)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, cast

from engine.executors.base import Executor as Executor
from engine.executors.base import Job as Job
from engine.executors.base import JobResult as JobResult
from engine.executors.local import LocalExecutor as LocalExecutor
from engine.executors.local import find_processes as find_processes
from engine.executors.local import kill_leftovers as kill_leftovers
from engine.executors.simulate import SimulateExecutor as SimulateExecutor

__all__ = [
    "EXECUTOR_NAMES",
    "Executor",
    "Job",
    "JobResult",
    "LocalExecutor",
    "SimulateExecutor",
    "find_processes",
    "kill_leftovers",
    "open_executor",
]

EXECUTOR_NAMES = ("local", "docker", "simulate")


async def open_executor(name: str, **options: Any) -> Executor:
    """Create the executor called `name` ("local", "simulate" or "docker") with `options`.

    "docker" is imported only when asked for (it pulls in aiodocker/aiohttp) and made with
    `await DockerExecutor.create(**options)` (its async factory, which checks the daemon; raises
    ExecutorUnavailableError). Close the executor with `aclose()`. Raises ValueError for an
    unknown name.
    """
    if name == "local":
        return LocalExecutor(**options)
    if name == "simulate":
        return SimulateExecutor(**options)
    if name == "docker":
        docker_cls: Any = importlib.import_module("engine.executors.docker").DockerExecutor
        factory: Any = (
            getattr(docker_cls, "create", None) or getattr(docker_cls, "open", None) or docker_cls
        )
        made = factory(**options)
        if inspect.isawaitable(made):
            made = await made
        return cast(Executor, made)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTOR_NAMES)}")
