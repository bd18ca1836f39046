"""Opening files: fresh, ours, foreign, newer. A file that is not ours is never modified."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from engine.errors import CorruptLogError
from engine.events import WorkflowSubmitted
from engine.store import SCHEMA_VERSION, SqliteStore

pytestmark = pytest.mark.anyio


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """Content hash, mtime and the sibling files (a -wal/-shm would show up)."""
    siblings = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


def sqlite_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_fresh_file_gets_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    async with await SqliteStore.open(db):
        pass
    assert sqlite_rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert sqlite_rows(db, "PRAGMA journal_mode") == [("wal",)]
    tables = {r[0] for r in sqlite_rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_version", "workflows", "events", "logs", "commands", "controller"} <= tables
    # Opening again is a no-op for the schema.
    async with await SqliteStore.open(db):
        pass
    assert sqlite_rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_empty_file_is_initialised(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    async with await SqliteStore.open(db):
        pass
    assert sqlite_rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_text_file_is_refused_and_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("these are my notes, not a database\n" * 100)
    before = fingerprint(db)
    with pytest.raises(CorruptLogError, match=r"notes\.txt") as info:
        await SqliteStore.open(db)
    assert "\n" not in str(info.value)
    assert fingerprint(db) == before
    with pytest.raises(CorruptLogError):
        await SqliteStore.open(db, read_only=True)
    assert fingerprint(db) == before


async def test_other_sqlite_database_is_refused_and_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers(name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = fingerprint(db)
    with pytest.raises(CorruptLogError, match=r"other\.db is not an Exitflow event log") as info:
        await SqliteStore.open(db)
    assert "\n" not in str(info.value)
    assert fingerprint(db) == before
    assert sqlite_rows(db, "PRAGMA journal_mode") == [("delete",)]


async def test_foreign_table_named_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE schema_version(version INTEGER)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.commit()
    conn.close()
    before = fingerprint(db)
    with pytest.raises(CorruptLogError, match="not an Exitflow event log"):
        await SqliteStore.open(db)
    assert fingerprint(db) == before


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    async with await SqliteStore.open(db) as s:
        sub = WorkflowSubmitted(ts=time.time(), uid=str(uuid.uuid4()), name="w", spec_yaml="")
        await s.create_workflow(sub)
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = fingerprint(db)
    with pytest.raises(CorruptLogError, match=r"future\.db.*newer") as info:
        await SqliteStore.open(db)
    assert "\n" not in str(info.value)
    with pytest.raises(CorruptLogError, match="newer"):
        await SqliteStore.open(db, read_only=True)
    assert fingerprint(db)[0] == before[0]
    assert sqlite_rows(db, "SELECT version FROM schema_version") == [(SCHEMA_VERSION + 1,)]


async def test_garbage_after_a_sqlite_header_is_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    before = fingerprint(db)
    with pytest.raises(CorruptLogError, match=r"broken\.db"):
        await SqliteStore.open(db)
    assert fingerprint(db)[0] == before[0]
