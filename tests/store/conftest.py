"""The store contract suite runs once per backend: SQLite always, PostgreSQL when the test
server is there (skip with one line without it; a failure under CI=true)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from engine.store.base import CommitHook
from engine.store.locate import AnyStore, open_store

Opener = Callable[..., Awaitable[AnyStore]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The --db value of a fresh, empty event log on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    url: str = request.getfixturevalue("pg_db")
    return url


@pytest.fixture
def opener(backend: str) -> Opener:
    """Open (another) store on the same log: `await opener(read_only=..., hooks=...)`."""

    async def open_(*, read_only: bool = False, hooks: CommitHook | None = None) -> AnyStore:
        return await open_store(backend, read_only=read_only, hooks=hooks)

    return open_
