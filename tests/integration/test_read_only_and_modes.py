"""Read commands work on a database nobody may write (an archived audit copy, a read-only
directory, another user's file); write commands refuse it in one line; every file Exitflow
creates that holds parameters or output is 0600 whatever the umask."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.hostile import HEADER, exitflow_raw, one_line, write

SPEC = HEADER + """spec:
  entrypoint: main
  arguments:
    parameters: [{name: secret, value: hunter2}]
  templates:
  - name: main
    container: {image: alpine, command: [sh, -c, "echo {{workflow.parameters.secret}}"]}
"""

#: Root ignores file modes: drop the capabilities that let it, so the modes are really enforced.
UNPRIVILEGED = (["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
                if os.geteuid() == 0 else [])


def _as_reader(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    return subprocess.run([*UNPRIVILEGED, sys.executable, "-m", "engine", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def _archive(tmp_path: Path, *, rollback_journal: bool) -> tuple[Path, str]:
    db = tmp_path / "live.db"
    spec = write(tmp_path, "w.yaml", SPEC)
    for _ in range(2):
        assert exitflow_raw("run", spec, "--db", str(db)).code == 0
    name = exitflow_raw("list", "--db", str(db), "-o", "name").stdout.split()[0]
    archive = tmp_path / "archive"
    archive.mkdir()
    copy = archive / "audit.db"
    shutil.copy(db, copy)
    if rollback_journal:  # e.g. a copy made with `sqlite3 .backup` (rollback-journal mode)
        with sqlite3.connect(copy) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
    copy.chmod(0o444)
    archive.chmod(0o555)
    return copy, name


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="running as root without setpriv: file modes cannot be enforced")
@pytest.mark.parametrize("rollback_journal", [False, True], ids=["wal", "rollback-journal"])
@pytest.mark.timeout(180)
def test_read_commands_work_on_a_read_only_copy(tmp_path: Path, rollback_journal: bool) -> None:
    copy, name = _archive(tmp_path, rollback_journal=rollback_journal)
    try:
        db = ["--db", str(copy)]
        bundle = str(tmp_path / "out.bundle")
        for args in (["list"], ["get", name], ["logs", name], ["history", name],
                     ["replay", name, "--at", "3"], ["verify"], ["export", name, "-o", bundle]):
            result = _as_reader(*args, *db)
            assert result.returncode == 0, (args, result.stderr)
            assert result.stderr == "", (args, result.stderr)
        assert "hunter2" in _as_reader("logs", name, *db).stdout
        spec = write(tmp_path, "again.yaml", SPEC)
        for args in (["run", spec], ["submit", spec], ["recover"], ["stop", name],
                     ["prune", "--finished-before", "2999-01-01"]):
            result = _as_reader(*args, *db)
            assert result.returncode == 2, (args, result)
            assert "read-only" in one_line(result.stderr)
    finally:
        copy.parent.chmod(0o755)
    assert sorted(p.name for p in copy.parent.iterdir()) == ["audit.db"]  # nothing created


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="running as root without setpriv: file modes cannot be enforced")
@pytest.mark.timeout(120)
def test_wal_without_its_index_in_a_read_only_directory(tmp_path: Path) -> None:
    """A copy taken while a controller had uncheckpointed frames: -wal present, no -shm, and the
    directory read-only, so SQLite cannot build the index: opened immutable, with a warning."""
    copy, name = _archive(tmp_path, rollback_journal=False)
    folder = copy.parent
    folder.chmod(0o755)
    (folder / "audit.db-wal").write_bytes(b"\0" * 32)  # frames we cannot read without an index
    folder.chmod(0o555)
    try:
        result = _as_reader("list", "-o", "name", "--db", str(copy))
        assert result.returncode == 0, result.stderr
        assert name in result.stdout.split()
        assert "last checkpoint" in one_line(result.stderr)
    finally:
        folder.chmod(0o755)


@pytest.mark.timeout(120)
def test_database_lock_and_bundle_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    spec = write(tmp_path, "w.yaml", SPEC)
    bundle = tmp_path / "run.bundle"
    env = dict(os.environ)
    env.pop("EXITFLOW_CRASH_AT", None)
    for args in (["run", spec, "--db", str(db)],
                 ["export", "--db", str(db), "PLACEHOLDER", "-o", str(bundle)]):
        if "PLACEHOLDER" in args:
            args[args.index("PLACEHOLDER")] = exitflow_raw(
                "list", "--db", str(db), "-o", "name").stdout.split()[0]
        proc = subprocess.run(["sh", "-c", 'umask 022; exec "$@"', "sh", sys.executable, "-m",
                               "engine", *args], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr
    created = [p for p in tmp_path.iterdir() if p.name.startswith(("new.db", "run.bundle"))]
    assert {p.name for p in created} >= {"new.db", "new.db.lock", "run.bundle"}
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
