"""Which store a `--db` value names: a `postgresql://` URL is a PostgreSQL database, anything
else a SQLite file (the embedded default)."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from typing import TypeAlias
from urllib.parse import urlsplit

from ..errors import StoreUnavailableError
from .base import CommitHook
from .postgres import PostgresStore
from .postgres_schema import create_database, drop_database, redact
from .sqlite import SqliteStore

__all__ = [
    "AnyStore",
    "check_not_a_url",
    "describe",
    "discard_log",
    "is_url",
    "log_exists",
    "open_store",
    "scratch_log",
]

#: Every backend: they share the `EventStore` interface and the audit methods.
AnyStore: TypeAlias = SqliteStore | PostgresStore

_SCHEMES = ("postgresql://", "postgres://")


def is_url(db: str) -> bool:
    """True if `db` names a PostgreSQL database rather than a file."""
    return db.lower().startswith(_SCHEMES)


#: Something that is meant as a URL (`scheme:/...`), not a file name.
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


def check_not_a_url(db: str) -> None:
    """A `--db` value that looks like a URL but is not `postgresql://...` is a typo, not a file
    name to create: StoreUnavailableError naming it (without its password)."""
    if _URL_LIKE.match(db):
        raise StoreUnavailableError(
            f"{redact(db)}: not a database URL Exitflow knows (use postgresql://user@host:port/db"
            " or a file path)"
        )


def describe(db: str) -> str:
    """How messages name `db` (a URL loses its password)."""
    return redact(db) if is_url(db) else db


async def open_store(
    db: str, *, hooks: CommitHook | None = None, read_only: bool = False
) -> AnyStore:
    """Open the store `db` names (creating or migrating its schema unless read_only)."""
    if is_url(db):
        return await PostgresStore.open(db, hooks=hooks, read_only=read_only)
    check_not_a_url(db)
    return await SqliteStore.open(db, hooks=hooks, read_only=read_only)


def log_exists(db: str) -> bool:
    """Whether there may be an event log at `db` (a URL: always; the server is asked later)."""
    if is_url(db):
        return True
    check_not_a_url(db)
    return os.path.exists(db)


async def scratch_log(base: str | None, directory: str, tag: str) -> str:
    """A fresh, empty event log for one throw-away run (crashtest): a file `<tag>.db` in
    `directory`, or, when `base` is a PostgreSQL URL, a new database on that server."""
    if base is None or not is_url(base):
        return os.path.join(directory, f"{tag}.db")
    stem = re.sub(r"[^a-z0-9_]", "_", urlsplit(base).path.strip("/").lower())[:20]
    clean_tag = re.sub(r"[^a-z0-9_]", "_", tag.lower())
    name = f"{stem}_ct_{clean_tag}_{uuid.uuid4().hex[:8]}"[:63]
    return await create_database(base, name)


async def discard_log(db: str) -> None:
    """Remove a throw-away log made by `scratch_log` (its files, or its database)."""
    if is_url(db):
        await drop_database(db)
        return
    for suffix in ("", "-wal", "-shm", ".lock"):
        with contextlib.suppress(OSError):
            os.unlink(db + suffix)
