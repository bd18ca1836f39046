"""The event log's files on disk: created private (0600), opened read-only where they cannot be
written. Kept apart from the SQL so every backend that stores files can share it.

SQLite creates a database's `-wal` and `-shm` files with the mode of the database file itself,
so creating the (empty) database file 0600 first makes all three private whatever the umask.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger("exitflow.store")

#: Mode of every file Exitflow creates that holds parameters or step output.
PRIVATE_MODE = 0o600


def create_private(path: str) -> None:
    """Create `path` empty with mode 0600 unless it exists (then it is left as it is)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         PRIVATE_MODE))


def open_private(path: str) -> int:
    """A new file for writing, 0600 (for bundles and other copies of the log); an fd."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_MODE)


def writable(path: str) -> bool:
    """Whether this process could write the database (the file and, for its -wal/-shm, the
    directory or those files)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(path, os.W_OK):
        return False
    if os.access(folder, os.W_OK | os.X_OK):
        return True
    return all(os.access(path + suffix, os.W_OK) for suffix in ("-wal", "-shm"))


def read_only_uri(path: str) -> str:
    """The URI of a read-only connection to `path`.

    `mode=ro` reads the WAL through its index (`-shm`), which SQLite creates if missing. In a
    directory we cannot write (an archived copy, another user's folder) with no `-shm`, only
    `immutable=1` opens the file: it reads the main file alone, so frames still in a `-wal`
    file are not seen (a warning says so; a cleanly closed log has none).
    """
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path + "-shm") or os.access(folder, os.W_OK | os.X_OK):
        return uri
    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        log.warning("exitflow: %s-wal cannot be read without its -shm index (the directory is"
                    " read-only): showing the log as of its last checkpoint", path)
    return uri + "&immutable=1"
