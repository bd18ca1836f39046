from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from .runs import EXAMPLES, STEPS, run_text


@pytest.fixture(scope="session")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with a few finished runs (made once; copy it before changing it)."""
    db = tmp_path_factory.mktemp("audit") / "base.db"

    async def make() -> None:
        await run_text(db, STEPS, results={"a": "out-a\n"})
        await run_text(db, (EXAMPLES / "dag-exit-handlers.yaml").read_text(),
                       parameters={"should-fail": "true"}, fail={"run-task": 3})
        await run_text(db, (EXAMPLES / "retry-deadline-exit.yaml").read_text())

    anyio.run(make)
    return db


@pytest.fixture
def db(base_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "audit.db"
    shutil.copy(base_db, copy)
    return copy
