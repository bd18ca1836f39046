"""A spec feature Exitflow cannot honour (a secret ref, a volume) is refused by `run` and
`submit` with the line `lint` gives, unless the user passes --allow-unsupported."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.hostile import HEADER, exitflow_raw, one_line, write

SECRET = HEADER + """spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, 'echo "token=$TOKEN"']
      env:
      - name: TOKEN
        valueFrom: {secretKeyRef: {name: creds, key: token}}
"""


@pytest.mark.timeout(60)
def test_secret_refs_are_refused_unless_allowed(tmp_path: Path) -> None:
    spec = write(tmp_path, "secret.yaml", SECRET)
    db = tmp_path / "t.db"
    lint = exitflow_raw("lint", spec)
    assert lint.code == 2
    expected = one_line(lint.stderr)
    for args in (["run", spec], ["submit", spec]):
        refused = exitflow_raw(*args, "--db", str(db))
        assert refused.code == 2, refused
        line = one_line(refused.stderr)
        assert expected.split("cannot run: ")[1] in line and "--allow-unsupported" in line
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM workflows").fetchone() == (0,)
    allowed = exitflow_raw("run", spec, "--db", str(db), "--allow-unsupported")
    assert allowed.code == 0, allowed.stderr
